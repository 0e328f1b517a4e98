"""One stream's recognition pipeline: resample, VAD, endpointing, engine; events out.

Everything here is synchronous and runs on the worker pool, one call at a time per stream
(a lock makes sure of it, since a cancelled call may still be finishing on its thread when the
next one, or ``close``, arrives). Offsets are counted in 16 kHz samples of the stream's audio
and reported in ms from the stream's first sample.

Two moments stop processing so the caller can do slow work elsewhere: the end of an utterance
(``final_due``: decode it with ``finalize``) and, with the smart-turn end of turn, the start
of a pause (``turn_check_due``: judge it with ``judge_turn``).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from asr_svc.end_of_turn import MODEL_SECONDS, UNJUDGED, TurnJudge
from asr_svc.endpointing import (
    Endpointer,
    EndpointingOptions,
    SpeechOffset,
    SpeechOnset,
    SpeechPause,
)
from asr_svc.engines.base import SAMPLE_RATE, EngineStream, Transcript
from asr_svc.events import (
    RecognitionEvent,
    RecognitionResult,
    SpeechEvent,
    SpeechEventKind,
    WordTiming,
)
from asr_svc.vad import WINDOW_SAMPLES, SileroVadStream
from svc_core.audio import StreamResampler

#: Audio before the onset that the end-of-turn model hears (as pipecat gives it).
_TURN_PRE_SPEECH = SAMPLE_RATE // 2


def samples_to_ms(samples: int) -> int:
    """16 kHz samples -> whole ms."""
    return samples * 1000 // SAMPLE_RATE


@dataclass
class _Utterance:
    index: int
    onset: int  # first sample of speech
    audio_start: int  # first sample given to the engine (onset minus padding)
    accepted: int = 0  # samples given to the engine
    interim_at: int = 0  # stream position of the last interim result
    interim_text: str = ""


@dataclass(frozen=True)
class EarlyCheck:
    """A pause ``turn_early_ms`` old: the model may hear it now (``early_probability``)."""

    silence_start: int
    audio: np.ndarray


@dataclass(frozen=True)
class EarlyProbability:
    """The model's probability for the pause that began at ``silence_start``, heard early."""

    silence_start: int
    probability: float


@dataclass(frozen=True)
class InterimRequest:
    """An interim re-decode the caller should run (engines that are not incremental)."""

    utterance_index: int


class RecognitionPipeline:
    """Turns one stream's audio into speech events and results.

    Args:
        engine_stream: The engine's recognizer for this stream.
        vad: Silero detector with this stream's state.
        endpointing: When utterances begin and end.
        input_rate: Sample rate of the audio the client sends.
        interim_results: Whether to produce interim results.
        interim_interval_ms: At most one interim result per this much audio.
        incremental: The engine decodes as audio arrives, so interim results are computed
            inline; otherwise ``interim_request`` says when the caller should re-decode.
        turn_judge: Judges pauses when ``endpointing.end_of_turn`` is ``smart_turn``; without
            one every pause is left to the silence rule.
        language: Primary language subtag of the speech (for the judge's word rule).
    """

    def __init__(
        self,
        engine_stream: EngineStream,
        vad: SileroVadStream,
        endpointing: EndpointingOptions,
        *,
        input_rate: int,
        interim_results: bool,
        interim_interval_ms: int,
        incremental: bool,
        turn_judge: TurnJudge | None = None,
        language: str = "en",
    ) -> None:
        self._engine = engine_stream
        self._vad = vad
        self._endpointer = Endpointer(endpointing, SAMPLE_RATE)
        self._pad = endpointing.speech_pad_ms * SAMPLE_RATE // 1000
        self._resampler = StreamResampler(input_rate, SAMPLE_RATE)
        self._interim_results = interim_results
        self._interim_interval = interim_interval_ms * SAMPLE_RATE // 1000
        self._incremental = incremental
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0  # samples seen by the VAD
        # Recent windows, for the audio before a confirmed onset (padding + min speech).
        history_samples = self._pad + (endpointing.min_speech_ms * SAMPLE_RATE // 1000)
        self._history: deque[tuple[int, np.ndarray]] = deque(
            maxlen=history_samples // WINDOW_SAMPLES + 2
        )
        self._last_audio_end = 0  # end of the audio the previous utterance used
        self._utterance: _Utterance | None = None
        self._next_index = 0
        self._closed = False
        # An utterance that has ended but whose final result is still to be decoded.
        self._ending: tuple[_Utterance, int, int] | None = None
        self._defer_finals = False
        self._flushed = False  # the resampler's tail has been taken (the client half-closed)
        self._turn_judge = turn_judge
        self._language = language or "en"
        # The last 8 s, which the end-of-turn model hears (kept only for smart turn).
        self._recent: deque[tuple[int, np.ndarray]] | None = (
            deque(maxlen=MODEL_SECONDS * SAMPLE_RATE // WINDOW_SAMPLES + 1)
            if endpointing.end_of_turn == "smart_turn"
            else None
        )
        # A pause waiting for its verdict: (its audio, the words so far, where it began).
        self._pause: tuple[np.ndarray, str, int] | None = None
        # A pause old enough for the early check, until the caller takes it.
        self._early_samples = (
            endpointing.turn_early_ms * SAMPLE_RATE // 1000
            if self._recent is not None
            and 0 < endpointing.turn_early_ms < endpointing.turn_pause_ms
            else 0
        )
        self._early_check: EarlyCheck | None = None
        self._early_checked = -1  # silence_start of the last pause checked early
        # Silence inside an utterance longer than the silence rule's: the engine gets it only
        # if speech resumes. Decoding the seconds of hiss while smart turn waits for an
        # unfinished question costs CPU and makes the recognizer insert words ("what is
        # photosynthesis the"); up to min_silence_ms it decodes what it always did.
        self._trailing = endpointing.min_silence_ms * SAMPLE_RATE // 1000
        self._held: list[np.ndarray] = []

    @property
    def position_ms(self) -> int:
        """How much of the stream's audio has been through the VAD, in ms."""
        return samples_to_ms(self._position)

    @property
    def turn_check_due(self) -> bool:
        """A pause began (smart turn): ``judge_turn`` must decide whether it ends the turn."""
        return self._pause is not None

    @property
    def final_due(self) -> bool:
        """An utterance has ended (SPEECH_ENDED went out) and ``finalize`` must decode it."""
        return self._ending is not None

    def feed(self, pcm: bytes, *, interim: bool = True) -> list[RecognitionEvent]:
        """Processes client audio (s16le at the input rate); returns what it produced.

        When an utterance ends, processing stops right after its SPEECH_ENDED, so that event
        goes out before the (possibly slow) final decode: call ``finalize``, then ``feed(b"")``
        to go on with the audio that followed.

        Args:
            pcm: The audio.
            interim: False skips this call's interim result (the caller is behind: an interim
                would be stale by the time it went out, and its cost delays the final).
        """
        with self._lock:
            self._check_open()
            events: list[RecognitionEvent] = []
            self._defer_finals = True
            try:
                self._process(self._resampler.process(pcm) if pcm else b"", events)
            finally:
                self._defer_finals = False
            if interim and self._incremental and self._ending is None and self._pause is None:
                self._inline_interim(events)
            return events

    def take_early_check(self) -> EarlyCheck | None:
        """A pause that reached ``turn_early_ms`` since the last call, if any (once each), and
        whose words so far leave the verdict to the model.

        Whoever takes it may run ``early_probability`` beside the stream and hand the result
        to ``judge_turn`` when the pause is due.
        """
        with self._lock:
            check, self._early_check = self._early_check, None
            return check

    def early_probability(self, check: EarlyCheck) -> float:
        """The end-of-turn model's probability for an early check (blocking, ~50 ms)."""
        if self._turn_judge is None:
            raise RuntimeError("early checks need a turn judge")
        return self._turn_judge.probability(check.audio)

    def early_is_sure(self, early: EarlyProbability) -> bool:
        """The early probability is enough for the due pause's verdict: it needs no inference.

        Sure enough when the model is (``early_threshold``), or when the words at the pause
        decide the verdict themselves (``TurnJudge.read``), whatever the model says.
        """
        judge = self._turn_judge
        pause = self._pause  # one read (no lock: called on the event loop between feeds)
        if judge is None or pause is None or pause[2] != early.silence_start:
            return False
        return judge.early_verdict(early.probability, pause[1], self._language) is not None

    def words_decide(self) -> bool:
        """The due pause's words settle its verdict without the model (``TurnJudge.read``)."""
        judge = self._turn_judge
        pause = self._pause  # one read (no lock: called on the event loop between feeds)
        if judge is None or pause is None:
            return False
        return judge.read(pause[1], self._language).decides

    def judge_turn(
        self, *, judged: bool = True, early: EarlyProbability | None = None
    ) -> list[RecognitionEvent]:
        """Decides whether the pause that stopped the last ``feed`` ends the turn.

        Blocking (the model takes ~50 ms): run it off the event loop. Then call ``feed(b"")``
        (or ``finalize`` first, when ``final_due``) to go on.

        The model is heard only when the words do not settle the verdict alone
        (``TurnJudge.read``): then the verdict reports no probability.

        Args:
            judged: False when the model is too busy: the silence rule decides what the words
                leave open.
            early: The model's probability for this pause heard early; when it is sure
                enough, the verdict needs no inference now.

        Returns:
            SPEECH_ENDED when the turn is over, else nothing.
        """
        with self._lock:
            self._check_open()
            if self._pause is None:
                return []
            audio, words, silence_start = self._pause
            self._pause = None
            verdict = UNJUDGED
            judge = self._turn_judge
            if judge is not None:
                # Words that settle the verdict alone need no model, busy or not.
                verdict = judge.words_verdict(words, self._language) or UNJUDGED
            if judged and judge is not None and verdict is UNJUDGED:
                sure = (
                    judge.early_verdict(early.probability, words, self._language)
                    if early is not None and early.silence_start == silence_start
                    else None
                )
                verdict = sure or judge.judge(audio, words, self._language)
            events: list[RecognitionEvent] = []
            offset = self._endpointer.resolve(verdict)
            if offset is not None:
                self._end_utterance(offset, events)
            return events

    def finalize(self) -> list[RecognitionEvent]:
        """Decodes the utterance that ended in the last ``feed``; returns its final result."""
        with self._lock:
            self._check_open()
            return self._finalize_now() if self._ending is not None else []

    def finish(self) -> list[RecognitionEvent]:
        """The client half-closed: flushes the audio and ends an utterance in progress.

        Like ``feed``, it stops after a SPEECH_ENDED: while ``final_due``, call ``finalize``
        and then ``finish`` again, until it returns with nothing due.
        """
        with self._lock:
            self._check_open()
            events: list[RecognitionEvent] = []
            if self._ending is not None or self._pause is not None:
                return events
            self._defer_finals = True
            try:
                flushed = b"" if self._flushed else self._resampler.flush()
                self._flushed = True
                self._process(flushed, events)
            finally:
                self._defer_finals = False
            if self._ending is not None or self._pause is not None:
                return events
            if self._utterance is not None and len(self._pending) and not self._held:
                # The last partial window is too short for the VAD, but it is speech audio.
                self._accept(self._pending)
            self._position += len(self._pending)
            self._pending = np.zeros(0, dtype=np.int16)
            offset = self._endpointer.flush(self._position)
            if offset is not None:
                self._end_utterance(offset, events)
            return events

    def interim_request(self) -> InterimRequest | None:
        """For engines that are not incremental: an interim re-decode that is due, if any."""
        with self._lock:
            utterance = self._utterance
            if (
                self._closed
                or self._incremental
                or not self._interim_results
                or utterance is None
                or self._position - utterance.interim_at < self._interim_interval
            ):
                return None
            utterance.interim_at = self._position
            return InterimRequest(utterance.index)

    def run_interim(self, request: InterimRequest) -> RecognitionResult | None:
        """Re-decodes the utterance so far (blocking, without holding up ``feed``).

        Returns:
            The interim result, or None when the utterance has ended meanwhile or the text
            is empty or unchanged.
        """
        text = self._engine.interim()
        with self._lock:
            utterance = self._utterance
            if self._closed or utterance is None or utterance.index != request.utterance_index:
                return None
            return self._interim_result(utterance, text)

    def close(self) -> None:
        """Releases the engine stream (waits for a call still running on another thread)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._utterance = None
            self._engine.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the recognition pipeline is closed")

    def _finalize_now(self) -> list[RecognitionEvent]:
        assert self._ending is not None
        utterance, end_sample, keep = self._ending
        self._ending = None
        return [self._final_result(utterance, end_sample, self._engine.finish(keep))]

    def _process(self, samples: bytes, events: list[RecognitionEvent]) -> None:
        new = np.frombuffer(samples, dtype="<i2")
        pending = np.concatenate([self._pending, new]) if len(self._pending) else new
        whole = len(pending) // WINDOW_SAMPLES * WINDOW_SAMPLES
        start = 0
        while start < whole:
            if self._pause is not None:
                break  # the caller judges the pause, then feeds the rest
            if self._ending is not None:
                if self._defer_finals:
                    break  # the caller finalizes, then feeds the rest
                events.extend(self._finalize_now())
            self._window(pending[start : start + WINDOW_SAMPLES], events)
            start += WINDOW_SAMPLES
        if self._ending is not None and not self._defer_finals:
            events.extend(self._finalize_now())
        self._pending = pending[start:].copy()

    def _window(self, window: np.ndarray, events: list[RecognitionEvent]) -> None:
        start = self._position
        self._position += WINDOW_SAMPLES
        probability = self._vad.probability(window.astype(np.float32) / 32768.0)
        self._history.append((start, window))
        if self._recent is not None:
            self._recent.append((start, window))
        if self._utterance is not None:
            silence_start = self._endpointer.silence_start
            if silence_start is not None and start - silence_start >= self._trailing:
                self._held.append(window)
            else:
                self._accept(window)
        decision = self._endpointer.step(probability, start, self._position)
        if self._held and self._endpointer.speaking and self._endpointer.silence_start is None:
            self._accept(np.concatenate(self._held))  # the student went on after the pause
            self._held = []
        if decision is None and self._early_samples:
            self._note_early_check(events)
        if isinstance(decision, SpeechOnset):
            self._start_utterance(decision, events)
        elif isinstance(decision, SpeechOffset):
            self._end_utterance(decision, events)
        elif isinstance(decision, SpeechPause):
            words = self._pause_words()
            self._pause = (self._pause_audio(), words, decision.silence_start)
            # The words up to the pause go out before the (slow) verdict: they are what the
            # final transcript will most likely say, so the gateway can start its answer now.
            if self._interim_results and self._utterance is not None:
                interim = self._interim_result(self._utterance, words)
                if interim is not None:
                    events.append(interim)

    def _note_early_check(self, events: list[RecognitionEvent]) -> None:
        silence_start = self._endpointer.silence_start
        utterance = self._utterance
        if silence_start is None or utterance is None or self._turn_judge is None:
            return
        if silence_start != self._early_checked and (
            self._position - silence_start >= self._early_samples
        ):
            self._early_checked = silence_start
            words = self._pause_words()
            # Words that settle the verdict alone leave the model nothing to decide: no
            # inference (~50 ms of CPU per pause, what a busy host can least spare).
            if not self._turn_judge.read(words, self._language).decides:
                self._early_check = EarlyCheck(silence_start, self._pause_audio())
            # The words so far go out now too (the pause sends them again if they change):
            # the gateway's speculative answer gains the time to the pause.
            if self._interim_results:
                interim = self._interim_result(utterance, words)
                if interim is not None:
                    events.append(interim)

    def _pause_audio(self) -> np.ndarray:
        """The utterance so far (from half a second before its onset), as the model hears it."""
        assert self._recent is not None and self._utterance is not None
        since = self._utterance.onset - _TURN_PRE_SPEECH
        windows = [w for s, w in self._recent if s >= since]
        return np.concatenate(windows).astype(np.float32) / 32768.0

    def _pause_words(self) -> str:
        # Only an incremental engine's hypothesis is current; a re-decoding engine's last
        # interim may be a second old, and a stale "... the" would hold a finished turn.
        return self._engine.interim() if self._incremental else ""

    def _accept(self, samples: np.ndarray) -> None:
        assert self._utterance is not None
        self._engine.accept(samples)
        self._utterance.accepted += len(samples)

    def _start_utterance(self, onset: SpeechOnset, events: list[RecognitionEvent]) -> None:
        # Give the engine the padding before the onset too (word beginnings the VAD missed),
        # but never audio the previous utterance already used.
        earliest = onset.start_sample - self._pad
        preroll = [
            (s, w)
            for s, w in self._history
            if s + WINDOW_SAMPLES > earliest and s >= self._last_audio_end
        ]
        audio_start = preroll[0][0] if preroll else onset.start_sample
        utterance = _Utterance(
            index=self._next_index,
            onset=onset.start_sample,
            audio_start=audio_start,
            interim_at=self._position,
        )
        self._next_index += 1
        self._engine.start_utterance()
        self._utterance = utterance
        if preroll:
            self._accept(np.concatenate([w for _, w in preroll]))
        events.append(
            SpeechEvent(SpeechEventKind.STARTED, samples_to_ms(onset.start_sample), utterance.index)
        )

    def _end_utterance(self, offset: SpeechOffset, events: list[RecognitionEvent]) -> None:
        utterance = self._utterance
        assert utterance is not None
        self._utterance = None
        self._held = []
        keep = min(
            utterance.accepted, max(0, offset.end_sample + self._pad - utterance.audio_start)
        )
        self._last_audio_end = utterance.audio_start + keep
        end_sample = max(offset.end_sample, utterance.onset)
        events.append(
            SpeechEvent(
                SpeechEventKind.ENDED,
                samples_to_ms(end_sample),
                utterance.index,
                end_reason=offset.reason,
                end_of_turn_probability=offset.probability,
            )
        )
        self._ending = (utterance, end_sample, keep)

    def _final_result(
        self, utterance: _Utterance, end_sample: int, transcript: Transcript
    ) -> RecognitionResult:
        base_ms = samples_to_ms(utterance.audio_start)
        limit_ms = samples_to_ms(utterance.audio_start + utterance.accepted)
        words = tuple(
            WordTiming(
                word=w.word,
                start_ms=min(base_ms + w.start_ms, limit_ms),
                end_ms=min(base_ms + max(w.end_ms, w.start_ms), limit_ms),
                confidence=w.confidence,
            )
            for w in transcript.words
        )
        return RecognitionResult(
            transcript=transcript.text,
            is_final=True,
            utterance_index=utterance.index,
            utterance_start_ms=samples_to_ms(utterance.onset),
            utterance_end_ms=samples_to_ms(end_sample),
            confidence=transcript.confidence,
            words=words,
        )

    def _inline_interim(self, events: list[RecognitionEvent]) -> None:
        utterance = self._utterance
        if (
            not self._interim_results
            or utterance is None
            or self._position - utterance.interim_at < self._interim_interval
        ):
            return
        utterance.interim_at = self._position
        result = self._interim_result(utterance, self._engine.interim())
        if result is not None:
            events.append(result)

    def _interim_result(self, utterance: _Utterance, text: str) -> RecognitionResult | None:
        text = " ".join(text.split())
        if not text or text == utterance.interim_text:
            return None
        stability = _stability(utterance.interim_text, text)
        utterance.interim_text = text
        return RecognitionResult(
            transcript=text,
            is_final=False,
            utterance_index=utterance.index,
            utterance_start_ms=samples_to_ms(utterance.onset),
            stability=stability,
        )


def _stability(previous: str, current: str) -> float:
    """Share of the current words that the previous interim result already had, in order.

    Words that survived one more re-decode are likely to stay; a rough, cheap estimate.
    """
    before, now = previous.split(), current.split()
    same = 0
    for old, new in zip(before, now, strict=False):
        if old != new:
            break
        same += 1
    return round(same / len(now), 3) if now else 0.0
