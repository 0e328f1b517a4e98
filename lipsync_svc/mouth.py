"""Mouth shapes per video frame: from viseme hints when given, else from the audio itself.

The audio path reads two features of each frame's samples: loudness (RMS in dBFS), which opens
the jaw, and spectral balance (the share of energy above 3 kHz), which tells fricatives (s, f,
sh: narrow and spread) from vowels (open). Shapes are smoothed from frame to frame with a
faster attack than release, so the mouth opens with the syllable and closes a little after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svc_core.visemes import Viseme

# Loudness that starts opening the mouth, and loudness that opens it fully (dBFS).
QUIET_DB = -50.0
LOUD_DB = -16.0
# Share of the smoothing step taken per frame when opening and when closing.
ATTACK = 0.7
RELEASE = 0.45


@dataclass(frozen=True)
class MouthShape:
    """How the mouth looks in one frame.

    Attributes:
        opening: 0 closed .. 1 wide open (jaw drop).
        width: -1 rounded (o, u) .. 0 neutral .. 1 spread (e, i).
    """

    opening: float = 0.0
    width: float = 0.0

    @property
    def closed(self) -> bool:
        """True when the mouth is shut (as in silence)."""
        return self.opening < 0.02


CLOSED = MouthShape()


VISEME_SHAPES: dict[Viseme, MouthShape] = {
    Viseme.SIL: MouthShape(0.0, 0.0),
    Viseme.PP: MouthShape(0.0, -0.1),
    Viseme.FF: MouthShape(0.15, 0.2),
    Viseme.TH: MouthShape(0.25, 0.1),
    Viseme.DD: MouthShape(0.3, 0.1),
    Viseme.KK: MouthShape(0.35, 0.0),
    Viseme.CH: MouthShape(0.3, -0.3),
    Viseme.SS: MouthShape(0.18, 0.5),
    Viseme.NN: MouthShape(0.25, 0.1),
    Viseme.RR: MouthShape(0.3, -0.4),
    Viseme.AA: MouthShape(1.0, 0.15),
    Viseme.E: MouthShape(0.6, 0.5),
    Viseme.IH: MouthShape(0.45, 0.6),
    Viseme.OH: MouthShape(0.7, -0.6),
    Viseme.OU: MouthShape(0.45, -0.8),
}


@dataclass(frozen=True)
class VisemeSpan:
    """A viseme held from ``start_ms`` to ``end_ms`` on the stream's input timeline."""

    viseme: Viseme
    start_ms: float
    end_ms: float


def audio_features(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(loudness in dBFS, share of spectral energy above 3 kHz) of one frame's samples."""
    if samples.size == 0:
        return -120.0, 0.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    loudness = 20 * np.log10(max(rms, 1e-6))
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / sample_rate)
    speech = spectrum[(freqs >= 100) & (freqs < 8000)].sum()
    high = spectrum[(freqs >= 3000) & (freqs < 8000)].sum()
    balance = float(high / speech) if speech > 0 else 0.0
    return loudness, balance


def shape_from_audio(samples: np.ndarray, sample_rate: int) -> MouthShape:
    """The mouth shape one frame of speech suggests, before smoothing."""
    loudness, balance = audio_features(samples, sample_rate)
    level = float(np.clip((loudness - QUIET_DB) / (LOUD_DB - QUIET_DB), 0.0, 1.0))
    # Hiss (high balance) narrows the jaw and spreads the lips; voiced sound opens the jaw.
    opening = level * (1.0 - 0.65 * balance)
    width = float(np.clip(1.4 * balance - 0.25, -0.4, 0.8)) * level
    return MouthShape(opening, width)


def shape_from_visemes(weights: Sequence[tuple[Viseme, float]]) -> MouthShape:
    """The average of the visemes' shapes, weighted by how much of the frame each covers."""
    total = sum(weight for _, weight in weights)
    if total <= 0:
        return CLOSED
    opening = sum(VISEME_SHAPES[v].opening * w for v, w in weights) / total
    width = sum(VISEME_SHAPES[v].width * w for v, w in weights) / total
    return MouthShape(opening, width)


class MouthDriver:
    """Turns each frame's audio (or viseme hints) into a smoothed mouth shape, frame by frame."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._opening = 0.0
        self._width = 0.0

    def next(self, samples: np.ndarray, visemes: Sequence[tuple[Viseme, float]] = ()) -> MouthShape:
        """The shape of the next frame, given its samples and the hints that overlap it."""
        target = (
            shape_from_visemes(visemes) if visemes else shape_from_audio(samples, self.sample_rate)
        )
        rate = ATTACK if target.opening > self._opening else RELEASE
        self._opening += (target.opening - self._opening) * rate
        self._width += (target.width - self._width) * rate
        if self._opening < 0.02 and target.opening == 0.0:
            # Snap shut, so silence shows the avatar's own untouched mouth.
            self._opening = 0.0
            self._width = 0.0
        return MouthShape(self._opening, self._width)
