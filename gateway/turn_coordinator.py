"""The one place that decides what a stream's inputs mean for its turns.

It consumes speech events, typed text and interrupts; it starts a turn for a final transcript
or a typed message, and cuts the playing turn on barge-in, on an interrupt or on a new
question.

A question the student goes on with after a pause (the ASR took the pause for the end: "what
happens when you mix" ... "red and blue paint") is answered whole: when the next utterance
starts within ``continuation_gap_ms`` of the question's last word and its answer has not
played out, the next final transcript is joined to the question's words, unless it opens a
question of its own ("tell me about the planets", "can you ..."): that is a new question
asked over the answer.

False starts are kept from interrupting the tutor in three ways:
- speech must last ``false_start_guard_ms`` past its onset (on the input audio timeline, so
  ASR latency does not count against it) before it cuts the tutor off. The ASR's own
  confirmation does this by default: Silero's VAD hears coughs, clicks and noise bursts as
  no speech, and SPEECH_STARTED comes only after 150 ms of speech, the default guard. A
  longer guard could not wait for a sound to end (the ASR reports an end only after a pause
  of its own), so it would only delay every barge-in;
- longer speech whose interim transcript is only backchannel ("mm", "uh-huh", "hmm") by then
  waits for the end of the utterance, and interrupts only if its transcript turns out to be more;
- a final transcript that is only backchannel never starts a turn, and over a playing turn
  one shorter than ``false_start_min_words`` words does not either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from gateway.conversation_context import ConversationContext
from gateway.events import ErrorOut, TranscriptOut
from gateway.speculation import Speculation
from gateway.speech_events import (
    FinalText,
    InterimText,
    RecognitionFailed,
    SpeechEnded,
    SpeechEvent,
    SpeechStarted,
)
from gateway.turn_handle import TurnHandle
from gateway.turn_records import TurnOutcome
from gateway.upstream.asr_client import SpeechActivity

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000
# Sounds that acknowledge or hesitate, not ask: never a question, never a barge-in.
BACKCHANNEL = frozenset(
    [
        "mm",
        "mmm",
        "mhm",
        "hm",
        "hmm",
        "uh",
        "um",
        "umm",
        "uhm",
        "er",
        "erm",
        "ah",
        "oh",
        "uh-huh",
        "mm-hmm",
        "mmhmm",
        "uhhuh",
        "huh",
    ]
)


def opens_a_question(text: str) -> bool:
    """``text`` begins as a question or request does ("what ...", "tell me ...", "can you
    ..."), not as the rest of one ("red and blue paint")."""
    words = [w.strip(".,!?").lower() for w in text.split()]
    if len(words) < 2:
        return False
    return words[0] in _QUESTION_OPENERS or (
        words[0] in _ASKING_AUXILIARIES and words[1] in ("you", "i", "we")
    )


def is_backchannel(text: str) -> bool:
    """True when ``text`` is nothing but backchannel sounds (an empty text is not)."""
    words = [w.strip(".,!?").lower() for w in text.split()]
    return bool(words) and all(w in BACKCHANNEL for w in words)


# How a new question or request begins: a question word, or a verb of asking.
_QUESTION_OPENERS = frozenset(
    {"what", "what's", "why", "how", "when", "where", "which", "who", "whose"}
    | {"tell", "explain", "describe", "show", "give", "define", "compare", "list"}
)
# "can you ...", "could i ...", "do we ...": an auxiliary opening a question to the tutor.
_ASKING_AUXILIARIES = frozenset({"can", "could", "would", "will", "do", "does", "should", "may"})

_INVALID_ARGUMENT = int(grpc.StatusCode.INVALID_ARGUMENT.value[0])


@dataclass(frozen=True)
class _SpokenQuestion:
    """The latest spoken question: its words, where its speech ended, the turn answering it."""

    text: str
    end_ms: int
    turn: TurnHandle


class TurnCoordinator:
    """Owns a stream's turns: at most one plays at a time.

    Args:
        context: The conversation.
        quiet_ms: How long the student's audio has been quiet (gates speculative answers).
    """

    def __init__(
        self, context: ConversationContext, quiet_ms: Callable[[], float] = lambda: 0.0
    ) -> None:
        self._context = context
        self._turn: TurnHandle | None = None
        self._lock = asyncio.Lock()
        self._onset_ms: float | None = None
        self._barge_in: asyncio.Task[None] | None = None
        self._barge_in_text = ""  # the barging utterance's latest interim transcript
        self._last_question: _SpokenQuestion | None = None
        self._speculation = Speculation(context, quiet_ms)

    @property
    def current_turn(self) -> TurnHandle | None:
        """The turn playing, if any."""
        turn = self._turn
        return turn if turn is not None and not turn.done else None

    # Inputs -----------------------------------------------------------------------------------

    async def on_speech(self, event: SpeechEvent) -> None:
        """Takes one event of the student's speech."""
        context = self._context
        if isinstance(event, SpeechStarted):
            await context.emit(SpeechActivity(True, int(event.offset_ms), event.utterance_index))
            await self._speculation.cancel("new speech")
            await self._on_speech_started(event)
        elif isinstance(event, SpeechEnded):
            await context.emit(SpeechActivity(False, int(event.offset_ms), event.utterance_index))
            await self._on_speech_ended(event)
            if self.current_turn is None:
                self._speculation.on_speech_ended()
        elif isinstance(event, InterimText):
            if context.options.interim_transcripts:
                await context.emit(
                    TranscriptOut(event.text, False, "", event.utterance_start_ms, 0)
                )
            if self._onset_ms is not None:
                self._barge_in_text = event.text
            if self.current_turn is None:
                await self._speculation.on_interim(event)
        elif isinstance(event, FinalText):
            await self._on_final(event)
        elif isinstance(event, RecognitionFailed):
            await context.emit(ErrorOut(event.code, event.message, "asr"))

    async def on_text(self, text: str) -> None:
        """A typed message: a new turn (bad text is reported, the stream goes on)."""
        text = text.strip()
        if not text or len(text) > MAX_TEXT_CHARS:
            message = "empty text" if not text else f"text longer than {MAX_TEXT_CHARS} characters"
            await self._context.emit(ErrorOut(_INVALID_ARGUMENT, message, "gateway"))
            return
        await self._speculation.cancel("typed message")
        self._last_question = None
        await self._start(TurnHandle.plan(self._context, text, spoken=False), None)

    async def on_interrupt(self, reason: str = "interrupt message") -> None:
        """Cuts the playing turn short, if any."""
        self._disarm_barge_in()
        async with self._lock:
            turn = self.current_turn
            if turn is not None:
                await turn.interrupt(reason)

    async def wait_until_idle(self) -> None:
        """Waits until no turn plays (however each one ends)."""
        while (turn := self.current_turn) is not None:
            await turn.wait()

    async def close(self) -> None:
        """Ends the stream's turns: the playing one is recorded as interrupted."""
        self._disarm_barge_in()
        await self._speculation.cancel("stream closed")
        await self.on_interrupt("stream closed")

    # Turns ------------------------------------------------------------------------------------

    async def _on_final(self, event: FinalText) -> None:
        context = self._context
        final = TranscriptOut(
            event.text, True, "", event.utterance_start_ms, event.utterance_end_ms
        )
        playing = self.current_turn is not None
        words = len(event.text.split())
        too_short = playing and words < context.settings.false_start_min_words
        if not event.text or too_short or is_backchannel(event.text):
            # Nothing said, or a short backchannel over the tutor: no new turn.
            await self._speculation.cancel("no turn")
            await context.emit(final)
            return
        # A doubtful transcript goes to the tutor with its confidence (it may ask "Did you
        # mean ...?"), so the speculation prepared from its interim text, without it, is dropped.
        confidence = event.confidence if event.confidence > 0 else None
        doubtful = confidence is not None and confidence < context.settings.confident_transcript
        question = self._question_text(event)

        def afresh() -> TurnHandle:
            return TurnHandle.plan(
                context,
                question,
                spoken=True,
                end_of_speech_us=event.end_of_speech_us,
                input_confidence=confidence,
            )

        if doubtful or question != event.text:
            await self._speculation.cancel("low confidence" if doubtful else "continuation")
            turn, prepared = afresh(), False
        else:
            turn, prepared = await self._speculation.take(event.text, afresh)
        if prepared:
            async with self._lock:
                await self._replace_turn("new question")
                self._turn = turn
                shown = await turn.commit(end_of_speech_us=event.end_of_speech_us, transcript=final)
            if shown:
                self._last_question = _SpokenQuestion(question, event.utterance_end_ms, turn)
                return
            turn = afresh()  # the prepared turn had failed
        self._last_question = _SpokenQuestion(question, event.utterance_end_ms, turn)
        await self._start(turn, final)

    def _question_text(self, event: FinalText) -> str:
        """The question ``event`` asks: its words, after the last question's when it goes on
        with that one (see the module's docstring)."""
        last = self._last_question
        gap_ms = self._context.settings.continuation_gap_ms
        if last is None or gap_ms <= 0 or event.utterance_start_ms - last.end_ms > gap_ms:
            return event.text
        record = last.turn.record
        if record is not None and record.outcome is TurnOutcome.COMPLETED:
            return event.text  # answered in full: a new question
        if opens_a_question(event.text):
            return event.text  # "tell me about the planets": a new question over the answer
        logger.info("the student went on with their question: answering both parts as one")
        return f"{last.text} {event.text}"

    async def _start(self, turn: TurnHandle, transcript: TranscriptOut | None) -> None:
        async with self._lock:
            await self._replace_turn("new question")
            self._turn = turn
            await turn.start(transcript)

    async def _replace_turn(self, reason: str) -> None:
        self._disarm_barge_in()
        playing = self.current_turn
        if playing is not None:
            await playing.interrupt(reason)

    # Barge-in ---------------------------------------------------------------------------------

    async def _on_speech_started(self, event: SpeechStarted) -> None:
        turn = self.current_turn
        if turn is None:
            return
        guard_ms = self._context.settings.false_start_guard_ms
        remaining_ms = guard_ms - (event.received_ms - event.offset_ms)
        if remaining_ms <= 0:
            await self._barge_in_on(turn)
            return
        self._disarm_barge_in()
        self._onset_ms = event.offset_ms
        self._barge_in = asyncio.create_task(self._barge_in_after(turn, remaining_ms / 1000))

    async def _on_speech_ended(self, event: SpeechEnded) -> None:
        onset = self._onset_ms
        said = self._barge_in_text
        turn = self.current_turn
        self._disarm_barge_in()
        if onset is None or turn is None:
            return
        lasted_ms = event.offset_ms - onset
        if lasted_ms >= self._context.settings.false_start_guard_ms and not is_backchannel(said):
            await self._barge_in_on(turn)
        else:
            logger.debug("false start of %d ms ignored", lasted_ms)

    async def _barge_in_after(self, turn: TurnHandle, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if is_backchannel(self._barge_in_text):
            return  # "mm...": the end of the utterance decides (see _on_speech_ended)
        # From here on the interruption is not cancelled with the timer.
        self._barge_in = None
        self._onset_ms = None
        await self._barge_in_on(turn)

    async def _barge_in_on(self, turn: TurnHandle) -> None:
        async with self._lock:
            if self.current_turn is turn:
                await turn.interrupt("barge-in")

    def _disarm_barge_in(self) -> None:
        self._onset_ms = None
        self._barge_in_text = ""
        timer, self._barge_in = self._barge_in, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(Exception):
                timer.add_done_callback(lambda t: t.cancelled() or t.exception())
