"""What a Converse or Chat stream sends to its client, as plain values (server.py makes protos)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.playback import PlaybackTracker
from gateway.turn_records import TurnRecord, TurnTimings
from gateway.upstream.asr_client import SpeechActivity
from gateway.upstream.lipsync_client import AnimatedFrame


@dataclass(frozen=True)
class SessionOpened:
    """The config was accepted."""

    output_sample_rate_hz: int
    video: bool


@dataclass(frozen=True)
class TranscriptOut:
    """A transcript of the student; times in ms of the stream's input audio."""

    text: str
    is_final: bool
    turn_id: str
    utterance_start_ms: int
    utterance_end_ms: int


@dataclass(frozen=True)
class AssistantTextOut:
    """Text the tutor is saying."""

    turn_id: str
    delta: str


@dataclass(frozen=True)
class AudioOut:
    """Tutor speech (audio-only output); ``pts_us`` on the stream's output media clock."""

    turn_id: str
    data: bytes
    pts_us: int
    sample_rate_hz: int
    tracker: PlaybackTracker


@dataclass(frozen=True)
class FrameOut:
    """A video frame with its audio; ``pts_us`` on the stream's output media clock."""

    turn_id: str
    frame: AnimatedFrame
    pts_us: int
    tracker: PlaybackTracker


@dataclass(frozen=True)
class TurnEventOut:
    """A turn started, was interrupted, completed or failed."""

    turn_id: str
    kind: str  # "started", "interrupted", "completed" or "failed"
    timings: TurnTimings
    record: TurnRecord | None = None


@dataclass(frozen=True)
class ErrorOut:
    """Something went wrong; ``code`` is a gRPC status code number."""

    code: int
    message: str
    stage: str
    turn_id: str = ""


ConverseEvent = (
    SessionOpened
    | SpeechActivity
    | TranscriptOut
    | AssistantTextOut
    | AudioOut
    | FrameOut
    | TurnEventOut
    | ErrorOut
)
