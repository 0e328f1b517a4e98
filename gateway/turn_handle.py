"""One answer from start to record: the only place a turn is started, cut, finished and kept.

A TurnHandle runs its pipeline into its own output channel and ends exactly once, with one
outcome: COMPLETED (every message sent), INTERRUPTED (cut short: its channel is flushed, and
its record keeps only the words the student heard) or FAILED (an upstream failed: the same,
plus the failure). Spoken turns, typed turns and Chat calls all go through here.

A handle may also run hidden (a speculative answer): its pipeline works, but nothing reaches
the client and nothing is recorded until ``commit``; ``discard`` drops it without a trace in
the history.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from gateway import metrics
from gateway.conversation_context import ConversationContext
from gateway.events import ErrorOut, TranscriptOut, TurnEventKind, TurnEventOut
from gateway.heard_text import delivered_answer
from gateway.tracing import TurnTrace, caller_links
from gateway.turn_output import TurnOutput
from gateway.turn_pipeline import TurnPipeline
from gateway.turn_plan import plan_turn
from gateway.turn_records import TurnFailure, TurnOutcome, TurnRecord, TurnTimings
from gateway.upstream.channels import UpstreamError

logger = logging.getLogger(__name__)

_STAGE_MARKS = ("first_token", "last_token", "first_audio", "first_frame")
#: How long a stopped turn's task is awaited after its cancellation. One that takes longer (an
#: upstream call that does not end when cancelled) is left behind: the conversation goes on.
#: Waiting without a bound held a whole session's speech events behind a discarded
#: speculation (8-student load test: 1-2 sessions heard nothing more, in 4 of 4 runs).
STOP_WAIT_S = 2.0
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


class TurnHandle:
    """Owns one turn: its pipeline task, its output channel, its outcome and its record.

    Build it with ``TurnHandle.plan``.

    Args:
        context: The conversation.
        pipeline: The turn's stages.
        timings: The turn's timings (shared with the pipeline).
        trace: The turn's spans.
        speculative: Prepared before the final transcript (hidden until committed).
    """

    def __init__(
        self,
        context: ConversationContext,
        pipeline: TurnPipeline,
        output: TurnOutput,
        *,
        timings: TurnTimings,
        trace: TurnTrace,
        speculative: bool = False,
    ) -> None:
        self.context = context
        self.pipeline = pipeline
        self.output = output
        self.timings = timings
        self.trace = trace
        self.speculative = speculative
        self.record: TurnRecord | None = None
        self.start_time = datetime.now(UTC)
        self._visible = False
        self._ending = False
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self._shown = asyncio.Event()

    @classmethod
    def plan(
        cls,
        context: ConversationContext,
        text: str,
        *,
        spoken: bool,
        end_of_speech_us: int = 0,
        speculative: bool = False,
        input_confidence: float | None = None,
    ) -> TurnHandle:
        """A turn answering ``text`` (not started yet).

        Args:
            context: The conversation.
            text: What the student said or typed.
            spoken: A spoken turn (its trace joins the ASR stream's).
            end_of_speech_us: When the student stopped speaking (stream clock); 0 if typed.
            speculative: Prepared from an interim transcript, before the final one.
            input_confidence: The recognizer's confidence in ``text`` (spoken, final only).
        """
        turn_id = uuid.uuid4().hex
        clock = context.clock
        now = clock.now_us()
        timings = TurnTimings()
        if not speculative:
            timings = TurnTimings(
                end_of_speech_us=end_of_speech_us, final_transcript_us=max(now, 1)
            )
        start_us = end_of_speech_us or now
        if context.tracing is not None:
            turn_trace = context.tracing.start_turn(turn_id, spoken=spoken, start_us=start_us)
        else:
            turn_trace = TurnTrace.start(turn_id, clock, links=caller_links())
        turn_trace.record_asr_final(timings)
        plan = plan_turn(
            turn_id,
            text,
            tutor=context.tutor,
            history=context.history(),
            options=context.options,
            input_confidence=input_confidence,
            start_idle_index=context.idle.frame_at(
                now + context.settings.first_frame_delay_ms * 1000, context.options.fps
            ),
        )
        output = TurnOutput(
            turn_id,
            sample_rate_hz=context.options.output_sample_rate_hz,
            capacity=context.settings.stage_queue_size,
        )
        pipeline = TurnPipeline(plan, context, timings=timings, output=output, trace=turn_trace)
        return cls(
            context, pipeline, output, timings=timings, trace=turn_trace, speculative=speculative
        )

    @property
    def turn_id(self) -> str:
        """The turn's id."""
        return self.pipeline.plan.turn_id

    @property
    def text(self) -> str:
        """What the student said or typed."""
        return self.pipeline.plan.user_text

    @property
    def done(self) -> bool:
        """True once the turn has ended (however)."""
        return self._ending

    async def start(self, transcript: TranscriptOut | None = None) -> None:
        """Starts the turn in view of the client: its transcript, STARTED, then its output."""
        self._run_hidden()
        await self._show(transcript)

    def prepare(self) -> None:
        """Starts the pipeline hidden: nothing reaches the client until ``commit``."""
        self._run_hidden()

    async def commit(self, *, end_of_speech_us: int, transcript: TranscriptOut) -> bool:
        """Makes a prepared turn the turn: the final transcript matched what it answers.

        Stages that were ready before the commit count as ready at the commit: nothing of
        the answer could reach the client earlier.

        Returns:
            False when the prepared turn had already ended (it failed): answer afresh.
        """
        if self._ending:
            return False
        now = max(self.context.clock.now_us(), 1)
        self.timings.end_of_speech_us = end_of_speech_us
        self.timings.final_transcript_us = now
        for stage in _STAGE_MARKS:
            name = f"{stage}_us"
            value = getattr(self.timings, name)
            if value:
                setattr(self.timings, name, max(value, now))
        self.trace.record_asr_final(self.timings)
        metrics.record_speculation(committed=True)
        await self._show(transcript)
        return True

    def answers(self, text: str) -> None:
        """A prepared turn now answers ``text`` (the final transcript's words, which it
        answers as its own did): its record keeps them."""
        self.pipeline.plan = replace(self.pipeline.plan, user_text=text)

    def answer_opening(self) -> str | None:
        """The answer's first sentence once the LLM has given it (all of a shorter answer
        once it has ended); None before."""
        progress = self.pipeline.progress
        text = "".join(progress.answer)
        end = _SENTENCE_END.search(text)
        if end is not None:
            return text[: end.start() + 1]
        return text if progress.generation is not None else None

    async def discard(self, reason: str) -> None:
        """Drops a prepared turn that will not be the turn: no event, no record."""
        if self._ending:
            return
        self._ending = True
        await self._stop()
        if self.speculative:
            metrics.record_speculation(committed=False)
        self.trace.discard(reason)
        logger.debug("speculative turn %s discarded (%s)", self.turn_id, reason)
        self._shown.set()
        self._done.set()

    async def interrupt(self, reason: str) -> None:
        """Cuts the turn short and records what the student heard (no-op once it has ended)."""
        if self._ending:
            return
        if not self._visible:
            await self.discard(reason)
            return
        self._ending = True
        heard_at = time.monotonic()
        await self._stop()
        logger.info("turn %s interrupted (%s)", self.turn_id, reason)
        await self._end(TurnOutcome.INTERRUPTED, heard_at=heard_at)
        self._shown.set()

    async def wait(self) -> None:
        """Waits until the turn has ended and been recorded."""
        await self._done.wait()

    # Internals --------------------------------------------------------------------------------

    def _run_hidden(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"turn-{self.turn_id}")

    async def _show(self, transcript: TranscriptOut | None) -> None:
        if self._ending or self._visible:
            return
        self._visible = True
        context = self.context
        if transcript is not None:
            await context.emit(replace(transcript, turn_id=self.turn_id))
        await context.emit(TurnEventOut(self.turn_id, TurnEventKind.STARTED, replace(self.timings)))
        if not self._ending:
            context.sender.attach(self.output)
        self._shown.set()

    async def _run(self) -> None:
        failure: UpstreamError | None = None
        try:
            await self.pipeline.run()
            self.output.close()
            await self.output.wait_drained()
        except UpstreamError as exc:
            failure = exc
        if failure is not None and not self._visible and not self._ending:
            # A hidden turn that failed is dropped; the final transcript starts a turn in view.
            self._ending = True
            self.output.flush()
            if self.speculative:
                metrics.record_speculation(committed=False)
            self.trace.discard(f"failed in {failure.stage}")
            self._done.set()
            return
        await self._shown.wait()  # a speculation ends only once committed
        if self._ending:  # interrupted or discarded meanwhile: that path ends the turn
            return
        self._ending = True
        heard_at = time.monotonic()
        if failure is None:
            await self._end(TurnOutcome.COMPLETED, heard_at=heard_at)
            return
        logger.warning("turn %s failed in %s: %s", self.turn_id, failure.stage, failure.code.name)
        self.output.flush()
        self.context.sender.detach(self.output)
        code = int(failure.code.value[0])
        await self._end(
            TurnOutcome.FAILED,
            heard_at=heard_at,
            failure=TurnFailure(code, failure.detail, failure.stage),
        )

    async def _stop(self) -> None:
        self.output.flush()
        self.context.sender.detach(self.output)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            # wait() rather than await: the cancellation is ours, not the caller's.
            done, _ = await asyncio.wait([task], timeout=STOP_WAIT_S)
            if not done:
                logger.warning(
                    "turn %s did not stop within %.1f s of its cancellation: left behind",
                    self.turn_id,
                    STOP_WAIT_S,
                )

    async def _end(
        self, outcome: TurnOutcome, *, heard_at: float, failure: TurnFailure | None = None
    ) -> None:
        record = self._make_record(outcome, heard_at=heard_at, failure=failure)
        self.record = record
        context = self.context
        try:
            await context.records.add(record)
            if failure is not None:
                await context.emit(
                    ErrorOut(failure.code, failure.message, failure.stage, self.turn_id)
                )
            kind = TurnEventKind.ended(outcome)
            await context.emit(TurnEventOut(self.turn_id, kind, record.timings, record))
        finally:
            self._done.set()

    def _make_record(
        self, outcome: TurnOutcome, *, heard_at: float, failure: TurnFailure | None
    ) -> TurnRecord:
        clock = self.context.clock
        timings = self.timings
        timings.end_us = max(clock.now_us(), 1)
        last_sent = self.output.playback.last_sent
        if last_sent is not None:
            timings.last_frame_us = clock.us_at(last_sent)
        progress = self.pipeline.progress
        answer, played_us = delivered_answer(
            completed=outcome is TurnOutcome.COMPLETED,
            spoken=self.pipeline.plan.speech is not None,
            progress=progress,
            output=self.output,
            heard_at=heard_at,
        )
        self.pipeline.release_media(played_us)
        self.trace.end(outcome, timings, error=failure.message if failure else "")
        metrics.record_turn(outcome, timings)
        generation = progress.generation
        return TurnRecord(
            turn_id=self.turn_id,
            turn_index=0,
            user_text=self.text,
            assistant_text=answer,
            outcome=outcome,
            timings=replace(timings),
            start_time=self.start_time,
            citations=generation.citations if generation else (),
            llm_time_to_first_token_ms=generation.time_to_first_token_ms if generation else 0,
            upstream_outcomes={stage: s.outcome for stage, s in progress.streams.items()},
            failure=failure,
            speculative=self.speculative,
        )
