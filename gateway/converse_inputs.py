"""What a Converse client sends: its config and its inputs, as plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioIn:
    """Student audio (PCM s16le mono at the stream's input rate)."""

    data: bytes


@dataclass(frozen=True)
class TextIn:
    """A typed message."""

    text: str


@dataclass(frozen=True)
class InterruptIn:
    """The student asked the tutor to stop."""


@dataclass(frozen=True)
class IdlePositionIn:
    """The client shows this frame of the avatar's idle loop now."""

    idle_index: int


ClientInput = AudioIn | TextIn | InterruptIn | IdlePositionIn


@dataclass(frozen=True)
class ConverseOptions:
    """What the client asked for in its config."""

    input_sample_rate_hz: int
    output_sample_rate_hz: int
    send_text: bool
    send_audio: bool
    send_video: bool
    interim_transcripts: bool
    fps: int = 25
    pixel_format: int = 0
    width: int = 0
    height: int = 0
