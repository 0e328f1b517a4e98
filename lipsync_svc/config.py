"""lipsync_svc settings (env prefix ``LIPSYNC_``): engine, avatar storage, limits, device."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svc_core.settings import ServiceSettings

# The names of lipsync_svc.engines.ENGINES.
EngineName = Literal["procedural", "wav2lip"]


class LipsyncSettings(ServiceSettings):
    """Everything ``python -m lipsync_svc`` reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="LIPSYNC_", extra="ignore")

    port: int = 50055
    # Avatars live in <data_dir>/avatars/<id>/.
    data_dir: Path = Path("var/lipsync")
    engine: EngineName = "procedural"

    # Avatar creation.
    max_video_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # Frame rate of stored idle loops.
    idle_fps: int = Field(default=25, ge=1, le=60)
    # Side of the built-in drawn avatar's (square) frames.
    default_avatar_size: int = Field(default=512, ge=64, le=1920, multiple_of=2)
    # Avatars kept decoded in memory (a 512 px, 4 s avatar takes about 80 MB).
    avatar_cache_size: int = Field(default=4, ge=1)

    # Animation.
    max_streams: int = Field(default=64, ge=1)
    # Frames an engine renders in one call (and, for wav2lip, one forward pass across streams).
    batch_size: int = Field(default=8, ge=1, le=256)
    jpeg_quality: int = Field(default=85, ge=10, le=100)

    # wav2lip engine.
    wav2lip_checkpoint: Path | None = None
    # "auto": CUDA when present, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "auto": bf16 autocast on CPU, fp16 on CUDA; "fp32" turns mixed precision off.
    wav2lip_precision: Literal["auto", "fp32"] = "auto"

    @property
    def avatars_dir(self) -> Path:
        """Folder holding one sub-folder per avatar."""
        return self.data_dir / "avatars"
