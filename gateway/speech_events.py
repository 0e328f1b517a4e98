"""What the student's speech input reports, as plain events; times on the stream's input audio."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechStarted:
    """The student began speaking at ``offset_ms``; ``received_ms`` of audio had arrived when
    the ASR said so (the difference is how long the speech has already lasted)."""

    offset_ms: float
    received_ms: float
    utterance_index: int


@dataclass(frozen=True)
class InterimText:
    """A provisional transcript of the utterance in progress."""

    text: str
    utterance_start_ms: int
    utterance_index: int


@dataclass(frozen=True)
class SpeechEnded:
    """The student stopped speaking at ``offset_ms`` (``end_of_speech_us`` on the stream clock:
    when that audio arrived); the final transcript follows. ``turn_complete``: the ASR's
    end-of-turn model judged the student finished (``end_of_turn_probability``; None when no
    model judged)."""

    offset_ms: float
    end_of_speech_us: int
    utterance_index: int
    turn_complete: bool = False
    end_of_turn_probability: float | None = None


@dataclass(frozen=True)
class FinalText:
    """The final transcript of an utterance; ``confidence`` in [0, 1] is the recognizer's
    calibrated confidence in it, 0 when it reports none."""

    text: str
    utterance_start_ms: int
    utterance_end_ms: int
    end_of_speech_us: int
    utterance_index: int
    confidence: float = 0.0


@dataclass(frozen=True)
class RecognitionFailed:
    """The ASR stream failed (``code``: a gRPC status code number); audio is retried later."""

    code: int
    message: str


SpeechEvent = SpeechStarted | InterimText | SpeechEnded | FinalText | RecognitionFailed
