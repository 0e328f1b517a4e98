"""The rest of a first sentence, made ahead of its listener on the niced threads: before their
bulk work, on a worker of its own, due from the first audio on, never after its caller went."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tts_svc.engines.base import VoiceSettings
from tts_svc.engines.piper import PiperEngine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[PiperEngine]:
    engine = PiperEngine(workers=1)
    await engine.start()
    yield engine
    await engine.close()


def thread_name() -> str:
    return threading.current_thread().name


def occupy_background(engine: PiperEngine, *, threads: int, soon: bool) -> threading.Event:
    """Keeps ``threads`` niced workers busy (with bulk work, or with audio heard ``soon``,
    which the reserved worker takes too) until the returned event is set."""
    release = threading.Event()
    started = threading.Semaphore(0)

    def hold() -> None:
        started.release()
        release.wait(10)

    assert engine._background is not None
    for _ in range(threads):
        engine._background.submit(time.monotonic(), hold, waiting=soon)
    for _ in range(threads):
        assert started.acquire(timeout=10)
    return release


async def test_audio_heard_soon_runs_on_the_niced_threads(engine) -> None:
    name = await engine._run_ahead(time.monotonic() + 30, thread_name)
    assert name.startswith("piper-background")


async def test_audio_heard_soon_never_waits_for_a_long_run_of_bulk_work(engine) -> None:
    # The one niced worker for bulk is busy with a later sentence: the reserved one takes it.
    release = occupy_background(engine, threads=1, soon=False)
    try:
        name = await asyncio.wait_for(engine._run_ahead(time.monotonic(), thread_name), 5)
        assert name.startswith("piper-background")
    finally:
        release.set()


async def test_a_cancelled_caller_leaves_no_work_behind(engine) -> None:
    ran: list[str] = []
    release = occupy_background(engine, threads=2, soon=True)
    try:
        task = asyncio.create_task(
            engine._run_ahead(time.monotonic() + 30, lambda: ran.append("ran"))
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()
    # The niced workers are free again and take whatever is queued: nothing of the caller's.
    assert await engine._run_ahead(time.monotonic(), thread_name)
    assert await engine._run_background(time.monotonic(), thread_name)
    assert ran == []


async def test_the_rest_of_a_first_sentence_is_niced_and_due_from_its_first_audio(
    engine, monkeypatch
) -> None:
    # What follows the first audio is due from when that audio was made, so a slow first run
    # (here: 0.3 s to phonemize) does not put the rest of the sentence before other streams'
    # first audio.
    model = await engine._model(engine.default_voice)
    phonemize = model.phonemize

    def slow_phonemize(text: str) -> list[list[str]]:
        time.sleep(0.3)
        return phonemize(text)

    dues: list[float] = []
    run_ahead = engine._run_ahead

    async def recorded(deadline, function, *args):  # type: ignore[no-untyped-def]
        dues.append(deadline)
        return await run_ahead(deadline, function, *args)

    monkeypatch.setattr(model, "phonemize", slow_phonemize)
    monkeypatch.setattr(engine, "_run_ahead", recorded)
    voice = VoiceSettings(engine.default_voice)
    first_audio_at = None
    async for _ in engine.synthesize("The sun is a star, and it is very hot today.", voice):
        if first_audio_at is None:
            first_audio_at = time.monotonic()
    assert first_audio_at is not None and dues
    # The second window begins where the first ends: heard that long after the first audio.
    first_window_s = engine._first_chunk_frames * model.hop_length / model.sample_rate
    assert min(dues) >= first_audio_at + first_window_s - 0.05
