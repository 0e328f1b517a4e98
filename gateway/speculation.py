"""Speculative answers: start the answer to a stable interim transcript before the final one.

When the student's interim transcript has not changed for ``speculation_stable_ms`` (usually
the silence before the end of the utterance is declared), when a new interim transcript comes
while the student is already quiet (the recognizer sends its words as a pause begins, before
it decides whether the turn is over), or as soon as the ASR ends the utterance (its
end-of-turn decision: the final transcript is still being decoded), the answer to the latest
interim transcript is prepared hidden: LLM, TTS and lip-sync run, their output waits in the
turn's channel, nothing reaches the client.
When the final transcript comes and matches (normalized: case, punctuation and spacing aside),
the prepared turn is committed and its first audio is ready at once. When the words differ
(the recognizer's final pass often changes a word: "planets" for "planet"), the final
transcript's own answer starts, hidden, and the two answers' first sentences are compared:
the same sentence means the same answer, so the prepared turn is committed for the final
words and the fresh one dropped; a different one, the prepared turn is discarded and the
fresh one goes on (it lost no time waiting). New speech discards the prepared turn. At most
one speculation per stream. Words a question does not end on ("tell me about", "how do
plants make their") are not answered in a pause, only when the ASR ends the utterance.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

from gateway.conversation_context import ConversationContext
from gateway.speech_events import InterimText
from gateway.turn_handle import TurnHandle

_NOT_WORD = re.compile(r"[^\w']+")
# A stable interim transcript is answered once the audio has been quiet this long.
PAUSE_MS = 100
PAUSE_POLL_S = 0.02
#: How long two answers' first sentences are awaited for the comparison; past it the fresh
#: answer is taken (an embedded LLM gives its first sentence in milliseconds).
SAME_ANSWER_WAIT_S = 1.0
_ANSWER_POLL_S = 0.005
#: English words a question does not end on: articles, possessives, conjunctions, and the
#: prepositions a student pauses after ("how do plants make their ...", "tell me about ...").
#: A pause there is mostly a thinking pause or a stop consonant, and the recognizer holds
#: the turn there too, so an answer prepared in it was mostly thrown away: on a busy host,
#: work taken from other students' answers (10 students: 7 of 13 discarded speculations).
#: Such words are answered when the recognizer ends the utterance, not in a pause.
_NO_QUESTION_ENDS = frozenset(
    {
        *("a", "an", "the", "my", "your", "his", "her", "its", "our", "their"),
        *("and", "or", "but", "nor", "because", "although", "unless", "whereas", "than"),
        *("about", "between", "of", "to", "for", "with", "from", "into", "in", "on", "at"),
    }
)


def normalized(text: str) -> str:
    """``text`` compared for speculation: lower case, words only, single spaces."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


class Speculation:
    """The stream's speculative answer, if any.

    Args:
        context: The conversation.
        quiet_ms: How long the student's audio has been quiet: a stable interim transcript is
            answered only in a pause, not while a long word is still being spoken.
    """

    def __init__(self, context: ConversationContext, quiet_ms: Callable[[], float]) -> None:
        self._context = context
        self._quiet_ms = quiet_ms
        self._text = ""  # normalized
        self._interim = ""
        self._timer: asyncio.Task[None] | None = None
        self._turn: TurnHandle | None = None

    @property
    def enabled(self) -> bool:
        """Speculation is on (a setting)."""
        return self._context.settings.speculation_stable_ms > 0

    @property
    def turn(self) -> TurnHandle | None:
        """The prepared answer, if any."""
        return self._turn

    async def on_interim(self, event: InterimText) -> None:
        """An interim transcript (while no turn plays): (re)arms the stability timer."""
        if not self.enabled:
            return
        text = normalized(event.text)
        if text == self._text:
            return  # unchanged: the timer runs on
        await self.cancel("interim transcript changed")
        self._text = text
        self._interim = event.text
        if not self._worth_answering(text) or not self._may_end_with(text):
            return
        if self._quiet_ms() >= PAUSE_MS:
            # New words while the student is already quiet: the recognizer's words up to the
            # pause (it sends them as the pause begins), the best guess there will be.
            self._prepare(event.text)
            return
        delay_s = self._context.settings.speculation_stable_ms / 1000
        self._timer = asyncio.create_task(self._prepare_after(event.text, delay_s))

    def on_speech_ended(self) -> None:
        """The ASR ended the utterance: answer the latest interim transcript now, if not yet."""
        if not self.enabled or self._turn is not None or not self._worth_answering(self._text):
            return
        self._stop_timer()
        self._prepare(self._interim)

    def _worth_answering(self, text: str) -> bool:
        return len(text.split()) >= self._context.settings.speculation_min_words

    def _may_end_with(self, text: str) -> bool:
        """Whether a question can end on ``text``'s last word (known for English only)."""
        language = self._context.tutor.language_code.lower()
        if language and language != "en" and not language.startswith("en-"):
            return True
        return text.rsplit(" ", 1)[-1] not in _NO_QUESTION_ENDS

    async def take(
        self, final_text: str, afresh: Callable[[], TurnHandle]
    ) -> tuple[TurnHandle, bool]:
        """The turn that answers ``final_text``, and whether it was prepared (to commit).

        Args:
            final_text: The final transcript.
            afresh: Plans the final transcript's own turn (not started).

        Returns:
            The prepared turn and True when it answers ``final_text`` (the same words, or the
            same answer); else the fresh turn, maybe already running hidden, and False:
            start it.
        """
        self._stop_timer()
        turn, self._turn = self._turn, None
        self._text = self._interim = ""
        if turn is None or turn.done:
            return afresh(), False
        if normalized(final_text) == normalized(turn.text):
            return turn, True
        fresh = afresh()
        fresh.prepare()
        if await _same_opening(turn, fresh):
            await fresh.discard("it answers as the prepared turn does")
            turn.answers(final_text)
            return turn, True
        await turn.discard("the final transcript differs")
        if fresh.done:
            # It failed while hidden, where a failure reaches nobody: answer in view, so the
            # student hears the answer or sees the error.
            return afresh(), False
        return fresh, False

    async def cancel(self, reason: str) -> None:
        """Drops the prepared answer and the timer (new speech, a typed message, the end)."""
        self._stop_timer()
        self._text = self._interim = ""
        turn, self._turn = self._turn, None
        if turn is not None:
            await turn.discard(reason)

    async def _prepare_after(self, text: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        # Interim results come at most every 200 ms and only when they change, so a stable
        # one is often the middle of a word: wait for the pause (new speech cancels us).
        # Loudness is sampled as audio arrives, not signalled: look again shortly.
        while self._quiet_ms() < PAUSE_MS:  # noqa: ASYNC110
            await asyncio.sleep(PAUSE_POLL_S)
        self._timer = None
        self._prepare(text)

    def _prepare(self, text: str) -> None:
        turn = TurnHandle.plan(self._context, text, spoken=True, speculative=True)
        self._turn = turn
        turn.prepare()

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(Exception):
                timer.add_done_callback(lambda t: t.cancelled() or t.exception())


async def _same_opening(prepared: TurnHandle, fresh: TurnHandle) -> bool:
    """Both answers begin with the same sentence (normalized), within SAME_ANSWER_WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAME_ANSWER_WAIT_S
    while not (prepared.done or fresh.done) and loop.time() < deadline:
        mine, theirs = prepared.answer_opening(), fresh.answer_opening()
        if mine is not None and theirs is not None:
            return bool(mine.strip()) and normalized(mine) == normalized(theirs)
        await asyncio.sleep(_ANSWER_POLL_S)
    return False
