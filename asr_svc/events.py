"""What a recognition stream produces, as plain dataclasses (server.py maps them to protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class SpeechEventKind(Enum):
    """Voice-activity event kinds."""

    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True)
class SpeechEvent:
    """Speech began or ended at ``offset_ms`` of the stream's audio."""

    kind: SpeechEventKind
    offset_ms: int
    utterance_index: int


@dataclass(frozen=True)
class WordTiming:
    """A word of a final result, in ms of the stream's audio."""

    word: str
    start_ms: int
    end_ms: int
    confidence: float = 0.0


@dataclass(frozen=True)
class RecognitionResult:
    """An interim or final transcript of one utterance; times in ms of the stream's audio."""

    transcript: str
    is_final: bool
    utterance_index: int
    utterance_start_ms: int
    utterance_end_ms: int = 0
    stability: float = 0.0
    confidence: float = 0.0
    words: tuple[WordTiming, ...] = field(default_factory=tuple)


RecognitionEvent = SpeechEvent | RecognitionResult
