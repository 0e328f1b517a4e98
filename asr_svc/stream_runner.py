"""Drives one stream's pipeline from the event loop: audio in, events out, work on the pool.

Audio is read ahead into a bounded queue (so a client that sends faster than recognition runs
is slowed by gRPC flow control instead of growing memory) and handed to the pipeline on the
worker pool, one call at a time. A response consumer that stops reading stalls only its own
stream. When the pool is busy, audio processing skips interim results; interim re-decodes of
engines that are not incremental run beside the stream's audio processing, at most one per
stream and only while the shared interim slots allow, so they never delay endpointing or a
final result. End-of-turn judgements (smart turn) run on their own small pool, once per
pause, and only for pauses whose words leave the verdict open (a question whose words read
finished, or a stop on "the", needs no model); a pause that finds no slot free within what
the silence rule would have waited anyway is left to the silence rule, so load costs at most
the silence rule's latency, never a lost turn. The model also hears each such pause early
(``turn_early_ms``) beside the stream, when a slot is free, so a sure verdict is ready when
the pause is due.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from asr_svc.events import RecognitionEvent, RecognitionResult
from asr_svc.pipeline import EarlyCheck, EarlyProbability, RecognitionPipeline
from svc_core.audio import NONE_TAKEN, join_queued_chunks

logger = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()
# When recognition falls behind, up to this much queued audio goes to the pool in one call.
_MAX_BATCH_BYTES = 16 * 1024
# A feed that waited longer than this for a worker skips its interim result.
_BUSY_WAIT_S = 0.05


class StreamRunner:
    """Runs a ``RecognitionPipeline`` for one client stream.

    Args:
        pipeline: The stream's pipeline; the runner closes it.
        executor: Bounded pool for the stream's audio processing (resampling, VAD,
            incremental decoding): short calls.
        decode_executor: Bounded pool for whole-utterance decodes (final results, interim
            re-decodes), which can take long.
        check_chunk: Validates each audio chunk; raises a ServiceError for bad input.
        queue_chunks: Audio chunks read ahead at most.
        interim_slots: Shared limit on concurrent interim re-decodes across streams.
        turn_executor: Pool for end-of-turn judgements (the smart-turn model).
        turn_slots: Shared limit on concurrent judgements.
        turn_wait_s: How long a pause waits for a free slot before it is left to the silence
            rule (the silence rule's min_silence_ms minus the pause already heard).
    """

    def __init__(
        self,
        pipeline: RecognitionPipeline,
        *,
        executor: Executor,
        decode_executor: Executor,
        check_chunk: Callable[[bytes], None],
        queue_chunks: int,
        interim_slots: asyncio.Semaphore,
        turn_executor: Executor | None = None,
        turn_slots: asyncio.Semaphore | None = None,
        turn_wait_s: float = 0.0,
    ) -> None:
        self._pipeline = pipeline
        self._executor = executor
        self._decode_executor = decode_executor
        self._check_chunk = check_chunk
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_chunks)
        self._interim_slots = interim_slots
        self._turn_executor = turn_executor
        self._turn_slots = turn_slots
        self._turn_wait_s = turn_wait_s
        self._held: Any = None  # an item taken out of the queue while batching, to handle next
        # The model hearing the latest pause early, beside the stream.
        self._early: asyncio.Task[EarlyProbability | None] | None = None

    async def run(self, audio: AsyncIterator[bytes]) -> AsyncIterator[RecognitionEvent]:
        """Recognizes ``audio``; yields events until the audio ends and all is flushed.

        Raises:
            ServiceError: Bad audio (after the events of the audio before it).
        """
        reader = asyncio.create_task(self._read(audio), name="asr-audio-reader")
        next_item: asyncio.Task[Any] | None = None
        interim: asyncio.Task[RecognitionResult | None] | None = None
        finalized = -1  # index of the last utterance whose final result went out
        try:
            while True:
                if next_item is None:
                    next_item = asyncio.create_task(self._next())
                waiting: set[asyncio.Future[Any]] = {next_item}
                if interim is not None:
                    waiting.add(interim)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if interim is not None and interim in done:
                    result, interim = interim.result(), None
                    if result is not None and result.utterance_index > finalized:
                        yield result
                if next_item not in done:
                    continue
                item, next_item = next_item.result(), None
                if isinstance(item, BaseException):
                    raise item
                ending = item is _END
                events = await self._step(ending, item)
                while True:
                    for event in events:
                        if isinstance(event, RecognitionResult) and event.is_final:
                            finalized = event.utterance_index
                        yield event
                    if self._pipeline.turn_check_due:
                        # A pause began: is the turn over? Then SPEECH_ENDED (and the final
                        # decode below), else on with the audio after the pause.
                        events = await self._judge_turn()
                        if not self._pipeline.final_due:
                            events += await self._step(ending, b"")
                        continue
                    if not self._pipeline.final_due:
                        break
                    # SPEECH_ENDED is out; now the final decode (on the decode pool, so other
                    # streams' voice activity never waits behind it), then the audio after it.
                    for event in await self._decode(self._pipeline.finalize):
                        if isinstance(event, RecognitionResult) and event.is_final:
                            finalized = event.utterance_index
                        yield event
                    events = await self._step(ending, b"")
                if ending:
                    return
                if interim is None:
                    interim = self._start_interim()
        finally:
            reader.cancel()
            for task in (next_item, interim, self._early):
                if task is not None:
                    task.cancel()
            # Not awaited: the stream may be ending by cancellation. The pipeline's lock makes
            # close wait for a call still running on the pool.
            self._executor.submit(self._close)

    async def _read(self, audio: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in audio:
                self._check_chunk(chunk)
                if chunk:
                    await self._queue.put(chunk)
            await self._queue.put(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Handed to the consumer, which raises it after the audio queued before it.
            await self._queue.put(exc)

    async def _next(self) -> Any:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        return await self._queue.get()

    def _batch(self, first: bytes) -> bytes:
        audio, taken = join_queued_chunks(self._queue, first, max_bytes=_MAX_BATCH_BYTES)
        if taken is not NONE_TAKEN:
            self._held = taken
        return audio

    def _start_interim(self) -> asyncio.Task[RecognitionResult | None] | None:
        request = self._pipeline.interim_request()
        if request is None or self._interim_slots.locked():
            # Busy: skip this interim result rather than queue work that would be stale.
            return None

        async def redecode() -> RecognitionResult | None:
            async with self._interim_slots:
                return await self._decode(self._pipeline.run_interim, request)

        return asyncio.create_task(redecode(), name="asr-interim")

    def _start_early_check(self) -> None:
        check = self._pipeline.take_early_check()
        slots = self._turn_slots
        if check is None or self._turn_executor is None or slots is None:
            return
        if (self._early is not None and not self._early.done()) or slots.locked():
            return  # busy: the pause is judged when it is due, as without the early check
        self._early = asyncio.create_task(self._early_probability(check, slots))

    async def _early_probability(
        self, check: EarlyCheck, slots: asyncio.Semaphore
    ) -> EarlyProbability | None:
        async with slots:
            loop = asyncio.get_running_loop()
            try:
                probability = await loop.run_in_executor(
                    self._turn_executor, self._pipeline.early_probability, check
                )
            except Exception:
                logger.exception("the early end-of-turn check failed; the pause is judged")
                return None
        return EarlyProbability(check.silence_start, probability)

    async def _judge_turn(self) -> list[RecognitionEvent]:
        early, self._early = self._early, None
        if self._pipeline.words_decide():
            # The words settle this pause whatever the model says: no inference, no wait for
            # a slot or for an early check still running.
            if early is not None:
                early.cancel()
            return await self._call(self._pipeline.judge_turn)
        if early is not None:
            # Started ~60 ms of audio ago: done by now, or done sooner than a new judgement.
            heard = await early
            if heard is not None and self._pipeline.early_is_sure(heard):
                return await self._call(functools.partial(self._pipeline.judge_turn, early=heard))
        slots = self._turn_slots
        if self._turn_executor is not None and slots is not None:
            try:
                # Waiting for a slot costs nothing while the silence rule would not have ended
                # the utterance yet anyway; past that, the silence rule decides.
                async with asyncio.timeout(self._turn_wait_s):
                    await slots.acquire()
            except TimeoutError:
                pass
            else:
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(
                        self._turn_executor, self._pipeline.judge_turn
                    )
                finally:
                    slots.release()
        logger.debug("end-of-turn model busy: the silence rule decides this pause")
        return await self._call(functools.partial(self._pipeline.judge_turn, judged=False))

    async def _step(self, ending: bool, item: Any) -> list[RecognitionEvent]:
        if ending:
            return await self._call(self._pipeline.finish)
        audio = self._batch(item) if item else b""
        submitted = time.perf_counter()

        def feed() -> list[RecognitionEvent]:
            # A call that waited for a worker means the pool is busy: it skips its interim
            # result (stale by now, and its cost delays everyone's endpointing and finals),
            # which are never skipped (issue 20, item 4).
            busy = time.perf_counter() - submitted > _BUSY_WAIT_S
            return self._pipeline.feed(audio, interim=not busy)

        events = await self._call(feed)
        self._start_early_check()
        return events

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def _decode(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode_executor, function, *args)

    def _close(self) -> None:
        try:
            self._pipeline.close()
        except Exception:
            logger.exception("closing a recognition stream failed")
