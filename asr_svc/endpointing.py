"""Endpointing: turns per-window speech probabilities into utterance starts and ends.

A small state machine after Silero's own ``get_speech_timestamps``, made causal so it can run
live: speech is confirmed once it has lasted ``min_speech_ms`` (that moment drives barge-in,
so it is reported at once), and ended after ``min_silence_ms`` below the lower threshold or
when the utterance reaches ``max_utterance_ms``. Two thresholds (``vad_threshold`` to enter
speech, 0.15 below it to leave) keep brief dips inside words from splitting an utterance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from svc_core.errors import InvalidArgument


@dataclass(frozen=True)
class EndpointingOptions:
    """When an utterance begins and ends (all times in ms)."""

    min_silence_ms: int = 500
    min_speech_ms: int = 150
    vad_threshold: float = 0.5
    max_utterance_ms: int = 30_000
    speech_pad_ms: int = 200

    @property
    def exit_threshold(self) -> float:
        """Probability below which a window counts as silence while in speech."""
        return max(self.vad_threshold - 0.15, 0.01)

    def with_requested(
        self,
        *,
        min_silence_ms: int = 0,
        min_speech_ms: int = 0,
        vad_threshold: float = 0.0,
        max_utterance_ms: int = 0,
        speech_pad_ms: int = 0,
        max_utterance_limit_ms: int = 120_000,
    ) -> EndpointingOptions:
        """These defaults overridden by a client's request, where it sets a value (non-zero).

        Raises:
            InvalidArgument: A value is out of range; the message names the field and range.
        """
        _check_range("min_silence_ms", min_silence_ms, 0, 10_000)
        _check_range("min_speech_ms", min_speech_ms, 0, 10_000)
        _check_range("speech_pad_ms", speech_pad_ms, 0, 2_000)
        _check_range("max_utterance_ms", max_utterance_ms, 0, max_utterance_limit_ms)
        if max_utterance_ms and max_utterance_ms < 1_000:
            raise InvalidArgument(f"max_utterance_ms {max_utterance_ms} is below 1000")
        if not 0.0 <= vad_threshold < 1.0:
            raise InvalidArgument(f"vad_threshold {vad_threshold} is outside (0, 1)")
        return replace(
            self,
            min_silence_ms=min_silence_ms or self.min_silence_ms,
            min_speech_ms=min_speech_ms or self.min_speech_ms,
            vad_threshold=vad_threshold or self.vad_threshold,
            max_utterance_ms=max_utterance_ms or self.max_utterance_ms,
            speech_pad_ms=speech_pad_ms or self.speech_pad_ms,
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArgument(f"{name} {value} is outside {low}-{high} (0 means the default)")


@dataclass(frozen=True)
class SpeechOnset:
    """Speech confirmed; it began at ``start_sample``."""

    start_sample: int


@dataclass(frozen=True)
class SpeechOffset:
    """The utterance is over; its speech ended at ``end_sample``.

    ``forced`` is True when it was cut at ``max_utterance_ms`` rather than ended by silence.
    """

    end_sample: int
    forced: bool = False


class _State(Enum):
    QUIET = 0
    CANDIDATE = 1
    SPEAKING = 2


class Endpointer:
    """Decides, window by window, where utterances begin and end."""

    def __init__(self, options: EndpointingOptions, sample_rate: int = 16000) -> None:
        self.options = options
        per_ms = sample_rate / 1000
        self._min_speech = round(options.min_speech_ms * per_ms)
        self._min_silence = round(options.min_silence_ms * per_ms)
        self._max_utterance = round(options.max_utterance_ms * per_ms)
        self._state = _State.QUIET
        self._onset = 0
        self._silence_start: int | None = None

    @property
    def speaking(self) -> bool:
        """True between a confirmed onset and its offset."""
        return self._state is _State.SPEAKING

    def step(
        self, probability: float, window_start: int, window_end: int
    ) -> SpeechOnset | SpeechOffset | None:
        """Takes the speech probability of the window [window_start, window_end).

        Returns:
            An onset when speech is confirmed in this window, an offset when the utterance
            ends in it, else None.
        """
        options = self.options
        if self._state is _State.QUIET:
            if probability < options.vad_threshold:
                return None
            self._state = _State.CANDIDATE
            self._onset = window_start
        elif self._state is _State.CANDIDATE and probability < options.exit_threshold:
            # Too short to be speech: a click or a breath.
            self._state = _State.QUIET
            return None
        if self._state is _State.CANDIDATE:
            if window_end - self._onset >= self._min_speech:
                self._state = _State.SPEAKING
                self._silence_start = None
                return SpeechOnset(self._onset)
            return None

        # Speaking.
        if probability >= options.vad_threshold:
            self._silence_start = None
        elif probability < options.exit_threshold and self._silence_start is None:
            self._silence_start = window_start
        if (
            self._silence_start is not None
            and window_end - self._silence_start >= self._min_silence
        ):
            return self._end(self._silence_start, forced=False)
        if window_end - self._onset >= self._max_utterance:
            end = self._silence_start if self._silence_start is not None else window_end
            return self._end(end, forced=True)
        return None

    def flush(self, end_sample: int) -> SpeechOffset | None:
        """The stream ended at ``end_sample``: ends an utterance in progress, if any."""
        if self._state is _State.SPEAKING:
            end = self._silence_start if self._silence_start is not None else end_sample
            return self._end(end, forced=False)
        self._state = _State.QUIET
        return None

    def _end(self, end_sample: int, *, forced: bool) -> SpeechOffset:
        self._state = _State.QUIET
        self._silence_start = None
        return SpeechOffset(end_sample, forced=forced)
