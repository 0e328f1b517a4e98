"""Recognition under load (issue 20, item 4): a busy pool costs interim results, never finals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

from asr_svc.endpointing import EndpointingOptions
from asr_svc.engines.base import StreamSpec
from asr_svc.events import RecognitionResult
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.stream_runner import StreamRunner
from asr_svc.vad import SileroVad
from tests.asr_svc.speech import recording
from tests.support.speech import chunks

pytestmark = pytest.mark.integration

SENTENCE = "photosynthesis turns light into energy"


class QueueingExecutor(Executor):
    """A pool whose every job first waits ``delay_s``, as it would behind other streams' work."""

    def __init__(self, pool: Executor, delay_s: float) -> None:
        self._pool = pool
        self._delay_s = delay_s

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def late() -> Any:
            time.sleep(self._delay_s)
            return fn(*args, **kwargs)

        return self._pool.submit(late)


async def _recognize(engine, executor: Executor) -> list[RecognitionResult]:
    speech = recording([(SENTENCE, "en-us", 130)])
    pipeline = RecognitionPipeline(
        engine.open_stream(StreamSpec(phrase_hints=(SENTENCE,))),
        SileroVad().stream(),
        EndpointingOptions(),
        input_rate=16000,
        interim_results=True,
        interim_interval_ms=100,
        incremental=True,
    )
    runner = StreamRunner(
        pipeline,
        executor=executor,
        decode_executor=executor,
        check_chunk=lambda chunk: None,
        queue_chunks=8,
        interim_slots=asyncio.Semaphore(1),
    )

    async def audio() -> AsyncIterator[bytes]:
        for chunk in chunks(speech.pcm, ms=100):
            yield chunk

    return [e async for e in runner.run(audio()) if isinstance(e, RecognitionResult)]


async def test_a_busy_pool_skips_interim_results_but_not_the_final(pocketsphinx_engine):
    with ThreadPoolExecutor(2) as pool:
        idle = await _recognize(pocketsphinx_engine, pool)
        busy = await _recognize(pocketsphinx_engine, QueueingExecutor(pool, delay_s=0.08))
    assert [r.transcript for r in idle if r.is_final] == [SENTENCE]
    assert len([r for r in idle if not r.is_final]) >= 3
    assert [r.transcript for r in busy if r.is_final] == [SENTENCE]
    assert [r for r in busy if not r.is_final] == []
