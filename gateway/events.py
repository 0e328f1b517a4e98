"""What a Converse or Chat stream sends to its client, as plain values (server.py makes protos)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.turn_records import TurnOutcome, TurnRecord, TurnTimings
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

    @property
    def samples(self) -> int:
        """Audio samples this message carries."""
        return len(self.data) // 2


@dataclass(frozen=True)
class FrameOut:
    """A video frame with its audio; ``pts_us`` on the stream's output media clock."""

    turn_id: str
    frame: AnimatedFrame
    pts_us: int

    @property
    def samples(self) -> int:
        """Audio samples this frame carries."""
        return len(self.frame.audio) // 2


class TurnEventKind(enum.Enum):
    """What happened to a turn: it started, or it ended with one of the outcomes."""

    STARTED = "started"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"

    @classmethod
    def ended(cls, outcome: TurnOutcome) -> TurnEventKind:
        """The event that reports a turn ending with ``outcome``."""
        return cls(outcome.value)


@dataclass(frozen=True)
class TurnEventOut:
    """A turn started, or ended (then ``record`` is the finished turn)."""

    turn_id: str
    kind: TurnEventKind
    timings: TurnTimings
    record: TurnRecord | None = None


@dataclass(frozen=True)
class ErrorOut:
    """Something went wrong; ``code`` is a gRPC status code number."""

    code: int
    message: str
    stage: str
    turn_id: str = ""


MediaOut = AudioOut | FrameOut

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
