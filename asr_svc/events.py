"""What a recognition stream produces, as plain dataclasses (server.py maps them to protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class SpeechEventKind(Enum):
    """Voice-activity event kinds."""

    STARTED = "started"
    ENDED = "ended"


class EndOfTurnReason(Enum):
    """Why an utterance ended."""

    SILENCE = "silence"  # min_silence_ms of silence (the silence rule, or the model was busy)
    TURN_COMPLETE = "turn_complete"  # the end-of-turn model judged the turn complete at a pause
    SILENCE_LIMIT = "silence_limit"  # judged unfinished, but the silence reached its limit
    MAX_UTTERANCE = "max_utterance"  # cut at max_utterance_ms
    END_OF_AUDIO = "end_of_audio"  # the client half-closed during speech


@dataclass(frozen=True)
class SpeechEvent:
    """Speech began or ended at ``offset_ms`` of the stream's audio.

    ENDED events say why (``end_reason``) and, when the end-of-turn model judged the pause
    that ended the utterance, its probability that the turn was complete.
    """

    kind: SpeechEventKind
    offset_ms: int
    utterance_index: int
    end_reason: EndOfTurnReason | None = None
    end_of_turn_probability: float | None = None


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
