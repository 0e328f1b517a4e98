"""Endpointing: turns per-window speech probabilities into utterance starts and ends.

A small state machine after Silero's own ``get_speech_timestamps``, made causal so it can run
live: speech is confirmed once it has lasted ``min_speech_ms`` (that moment drives barge-in,
so it is reported at once), and ended after ``min_silence_ms`` below the lower threshold or
when the utterance reaches ``max_utterance_ms``. Two thresholds (``vad_threshold`` to enter
speech, 0.15 below it to leave) keep brief dips inside words from splitting an utterance.

With the ``smart_turn`` end of turn (issue 19), silence alone does not end an utterance: after
``turn_pause_ms`` of it the endpointer reports a ``SpeechPause`` and waits for a verdict
(``resolve``). A complete turn ends at once; one whose words end mid-sentence gets up to
``turn_max_silence_ms`` of silence to go on, one only the model doubts up to
``turn_model_hold_ms``; an unjudged pause (the model was busy) falls back to
``min_silence_ms``. A pause held only because the words so far end mid-sentence is judged
once more after ``min_silence_ms``: the recognizer's hypothesis can lag the audio by its last
word ("how do plants make their" for "... their food"), and such a lag must not cost the
whole silence limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from asr_svc.end_of_turn import EndOfTurnMode, TurnVerdict
from asr_svc.events import EndOfTurnReason
from svc_core.errors import InvalidArgument


@dataclass(frozen=True)
class EndpointingOptions:
    """When an utterance begins and ends (all times in ms)."""

    min_silence_ms: int = 500
    min_speech_ms: int = 150
    vad_threshold: float = 0.5
    max_utterance_ms: int = 30_000
    speech_pad_ms: int = 200
    end_of_turn: EndOfTurnMode = "silence"
    # Judged after 5 VAD windows of silence (~200 ms after the last word, with Silero's lag of
    # about one window). After 128 ms the load test answered ~30 ms sooner, but Smart Turn
    # doubted finished questions more often (p < 0.5 in 2 of 3 runs against 0 of 2 at 160);
    # after 96 it cut more thinking pauses.
    turn_pause_ms: int = 160
    # The model hears the pause this early too, beside the stream, so that a sure "complete"
    # (``TurnJudge.early_threshold``) is ready when the pause is due instead of ~50 ms after
    # it; 0 turns it off. Two windows early: its ~50 ms inference ends before the pause.
    turn_early_ms: int = 96
    turn_max_silence_ms: int = 2_500
    turn_model_hold_ms: int = 1_000

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
class SpeechPause:
    """A pause of ``turn_pause_ms`` began at ``silence_start``: is the turn over?

    The endpointer waits for ``Endpointer.resolve`` before it takes the next window.
    """

    silence_start: int


@dataclass(frozen=True)
class SpeechOffset:
    """The utterance is over; its speech ended at ``end_sample``.

    ``forced`` is True when it was cut at ``max_utterance_ms`` rather than ended by silence.
    ``probability`` is the end-of-turn model's, when it judged the pause that ended it.
    """

    end_sample: int
    forced: bool = False
    reason: EndOfTurnReason = EndOfTurnReason.SILENCE
    probability: float | None = None


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
        self._smart = options.end_of_turn == "smart_turn"
        self._pause = round(options.turn_pause_ms * per_ms)
        self._max_silence = round(options.turn_max_silence_ms * per_ms)
        self._model_hold = min(round(options.turn_model_hold_ms * per_ms), self._max_silence)
        self._state = _State.QUIET
        self._onset = 0
        self._silence_start: int | None = None
        # The silence that ends the utterance now, and the reason it would give; smart turn
        # has none until a pause is judged.
        self._limit: int | None = None
        self._limit_reason = EndOfTurnReason.SILENCE
        self._judged = False  # this stretch of silence had its pause judged
        self._rejudge_at: int | None = None  # silence after which to judge the pause again
        self._awaiting = False  # a SpeechPause went out; resolve() is due
        self._probability: float | None = None

    @property
    def speaking(self) -> bool:
        """True between a confirmed onset and its offset."""
        return self._state is _State.SPEAKING

    @property
    def silence_start(self) -> int | None:
        """Where the silence inside the current utterance began; None while speech goes on."""
        return self._silence_start if self._state is _State.SPEAKING else None

    def step(
        self, probability: float, window_start: int, window_end: int
    ) -> SpeechOnset | SpeechOffset | SpeechPause | None:
        """Takes the speech probability of the window [window_start, window_end).

        Returns:
            An onset when speech is confirmed in this window, an offset when the utterance
            ends in it, a pause to judge (smart turn), else None.

        Raises:
            RuntimeError: A pause is waiting for ``resolve``.
        """
        if self._awaiting:
            raise RuntimeError("a pause is waiting for its verdict: call resolve() first")
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
                self._speech_resumed()
                return SpeechOnset(self._onset)
            return None

        # Speaking.
        if probability >= options.vad_threshold:
            self._speech_resumed()
        elif probability < options.exit_threshold and self._silence_start is None:
            self._silence_start = window_start
        if self._silence_start is not None:
            silence = window_end - self._silence_start
            if self._smart and not self._judged and silence >= self._pause:
                self._judged = self._awaiting = True
                return SpeechPause(self._silence_start)
            if self._rejudge_at is not None and silence >= self._rejudge_at:
                self._rejudge_at = None
                self._awaiting = True
                return SpeechPause(self._silence_start)
            if self._limit is not None and silence >= self._limit:
                return self._end(self._silence_start, self._limit_reason)
        if window_end - self._onset >= self._max_utterance:
            end = self._silence_start if self._silence_start is not None else window_end
            return self._end(end, EndOfTurnReason.MAX_UTTERANCE)
        return None

    def resolve(self, verdict: TurnVerdict) -> SpeechOffset | None:
        """The verdict on the pause just reported; the offset when the turn is complete.

        Raises:
            RuntimeError: No pause is waiting.
        """
        if not self._awaiting or self._silence_start is None:
            raise RuntimeError("no pause is waiting for a verdict")
        self._awaiting = False
        self._probability = verdict.probability
        if verdict.complete:
            return self._end(self._silence_start, EndOfTurnReason.TURN_COMPLETE)
        if verdict.complete is None:
            self._limit, self._limit_reason = self._min_silence, EndOfTurnReason.SILENCE
            return None
        if not verdict.unfinished_words:
            self._limit, self._limit_reason = self._model_hold, EndOfTurnReason.SILENCE_LIMIT
            return None
        if self._limit is None and self._min_silence < self._max_silence:
            self._rejudge_at = self._min_silence  # first verdict of this pause: once more
        self._limit, self._limit_reason = self._max_silence, EndOfTurnReason.SILENCE_LIMIT
        return None

    def flush(self, end_sample: int) -> SpeechOffset | None:
        """The stream ended at ``end_sample``: ends an utterance in progress, if any."""
        self._awaiting = False
        if self._state is _State.SPEAKING:
            end = self._silence_start if self._silence_start is not None else end_sample
            return self._end(end, EndOfTurnReason.END_OF_AUDIO)
        self._state = _State.QUIET
        return None

    def _speech_resumed(self) -> None:
        self._silence_start = None
        self._judged = False
        self._rejudge_at = None
        self._probability = None
        self._limit = None if self._smart else self._min_silence
        self._limit_reason = EndOfTurnReason.SILENCE

    def _end(self, end_sample: int, reason: EndOfTurnReason) -> SpeechOffset:
        probability = self._probability
        self._state = _State.QUIET
        self._silence_start = None
        self._rejudge_at = None
        self._probability = None
        return SpeechOffset(
            end_sample,
            forced=reason is EndOfTurnReason.MAX_UTTERANCE,
            reason=reason,
            probability=probability,
        )
