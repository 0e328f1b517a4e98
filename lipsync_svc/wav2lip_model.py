"""The Wav2Lip generator network in torch (imported only when the wav2lip engine is chosen).

The layer layout and parameter names follow the original (Prajwal et al., "A Lip Sync Expert Is
All You Need", 2020), so its published checkpoints load as they are: a face encoder over a
6-channel 96x96 input (the face with its lower half masked, and a reference face), an audio
encoder over an 80x16 mel window, and a decoder with skip connections back to the face.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

IMG_SIZE = 96


class Conv2d(nn.Module):
    """Convolution, batch norm and ReLU, optionally residual."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int | tuple[int, int],
        padding: int,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    """Transposed convolution, batch norm and ReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int,
        padding: int,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(cout),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(channels: int) -> Conv2d:
    return Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, residual=True)


class Wav2Lip(nn.Module):
    """Generator: (mel windows (B, 1, 80, 16), faces (B, 6, 96, 96)) -> faces (B, 3, 96, 96)."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(6, 16, kernel_size=7, stride=1, padding=3)),  # 96
                nn.Sequential(
                    Conv2d(16, 32, kernel_size=3, stride=2, padding=1), _res(32), _res(32)
                ),
                nn.Sequential(
                    Conv2d(32, 64, kernel_size=3, stride=2, padding=1), _res(64), _res(64), _res(64)
                ),  # 24
                nn.Sequential(
                    Conv2d(64, 128, kernel_size=3, stride=2, padding=1), _res(128), _res(128)
                ),  # 12
                nn.Sequential(
                    Conv2d(128, 256, kernel_size=3, stride=2, padding=1), _res(256), _res(256)
                ),  # 6
                nn.Sequential(Conv2d(256, 512, kernel_size=3, stride=2, padding=1), _res(512)),  # 3
                nn.Sequential(
                    Conv2d(512, 512, kernel_size=3, stride=1, padding=0),
                    Conv2d(512, 512, kernel_size=1, stride=1, padding=0),
                ),  # 1
            ]
        )
        self.audio_encoder = nn.Sequential(
            Conv2d(1, 32, kernel_size=3, stride=1, padding=1),
            _res(32),
            _res(32),
            Conv2d(32, 64, kernel_size=3, stride=(3, 1), padding=1),
            _res(64),
            _res(64),
            Conv2d(64, 128, kernel_size=3, stride=3, padding=1),
            _res(128),
            _res(128),
            Conv2d(128, 256, kernel_size=3, stride=(3, 2), padding=1),
            _res(256),
            Conv2d(256, 512, kernel_size=3, stride=1, padding=0),
            Conv2d(512, 512, kernel_size=1, stride=1, padding=0),
        )
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(512, 512, kernel_size=1, stride=1, padding=0)),
                nn.Sequential(
                    Conv2dTranspose(1024, 512, kernel_size=3, stride=1, padding=0), _res(512)
                ),  # 3
                nn.Sequential(
                    Conv2dTranspose(
                        1024, 512, kernel_size=3, stride=2, padding=1, output_padding=1
                    ),
                    _res(512),
                    _res(512),
                ),  # 6
                nn.Sequential(
                    Conv2dTranspose(768, 384, kernel_size=3, stride=2, padding=1, output_padding=1),
                    _res(384),
                    _res(384),
                ),  # 12
                nn.Sequential(
                    Conv2dTranspose(512, 256, kernel_size=3, stride=2, padding=1, output_padding=1),
                    _res(256),
                    _res(256),
                ),  # 24
                nn.Sequential(
                    Conv2dTranspose(320, 128, kernel_size=3, stride=2, padding=1, output_padding=1),
                    _res(128),
                    _res(128),
                ),  # 48
                nn.Sequential(
                    Conv2dTranspose(160, 64, kernel_size=3, stride=2, padding=1, output_padding=1),
                    _res(64),
                    _res(64),
                ),  # 96
            ]
        )
        self.output_block = nn.Sequential(
            Conv2d(80, 32, kernel_size=3, stride=1, padding=1),
            nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        x = self.audio_encoder(audio)  # (B, 512, 1, 1)
        feats = []
        f = faces
        for block in self.face_encoder_blocks:
            f = block(f)
            feats.append(f)
        for block in self.face_decoder_blocks:
            x = block(x)
            x = torch.cat((x, feats.pop()), dim=1)
        out: torch.Tensor = self.output_block(x)
        return out


def clean_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The generator's weights from a checkpoint as saved by us or by the original trainer.

    Accepts a plain state_dict or ``{"state_dict": ...}`` (the original's format, which also
    carries optimizer state), with or without DataParallel's ``module.`` prefixes.
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError("the checkpoint holds no state_dict")
    return {
        (key[len("module.") :] if key.startswith("module.") else key): value
        for key, value in state.items()
    }
