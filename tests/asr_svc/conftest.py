"""Fixtures for asr_svc: engines loaded once per session, servers per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asr_svc.config import AsrSettings
from asr_svc.engines.base import AsrEngine, StreamSpec
from asr_svc.engines.faster_whisper import FasterWhisperEngine
from asr_svc.engines.pocketsphinx import PocketsphinxEngine
from asr_svc.recognizer import Recognizer
from asr_svc.server import build_service
from svc_core.server import GrpcServer
from tests.asr_svc.speech import recording
from tests.support.grpc_servers import running_server


@pytest.fixture(scope="session")
def _loaded_pocketsphinx() -> tuple[PocketsphinxEngine, str | None]:
    """The engine, loaded once, and its channel estimate after hearing one warm-up sentence."""
    engine = PocketsphinxEngine(AsrSettings(port=0))
    engine.load()
    stream = engine.open_stream(StreamSpec(phrase_hints=("can you repeat the question",)))
    warm_up = recording([("can you repeat the question", "en-us", 170)], seed=99)
    stream.start_utterance()
    stream.accept(np.frombuffer(warm_up.pcm, dtype="<i2"))
    stream.finish(len(warm_up.pcm) // 2)
    stream.close()
    return engine, engine.channel_estimate


@pytest.fixture
def pocketsphinx_engine(
    _loaded_pocketsphinx: tuple[PocketsphinxEngine, str | None],
) -> PocketsphinxEngine:
    """The shared pocketsphinx engine, its channel adaptation reset for this test.

    The engine carries what its decoders learnt of the channel from stream to stream (as a
    running service should); tests each start from the same warmed-up state, so their
    results do not depend on which tests ran before.
    """
    engine, warm = _loaded_pocketsphinx
    engine.reset_adaptation(warm)
    return engine


@pytest.fixture
def pocketsphinx_alone(
    pocketsphinx_engine: PocketsphinxEngine, monkeypatch: pytest.MonkeyPatch
) -> PocketsphinxEngine:
    """The shared engine without Whisper's rescoring of tutors' finals: pocketsphinx's own
    second opinions and choice (``ASR_RESCORE_MODEL=off``)."""
    monkeypatch.setattr(pocketsphinx_engine, "rescorer", None)
    return pocketsphinx_engine


@pytest.fixture(scope="session")
def random_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Whisper model directory, built offline for the session."""
    pytest.importorskip("transformers")
    pytest.importorskip("ctranslate2")
    from tests.support.random_whisper import build_random_whisper

    return build_random_whisper(tmp_path_factory.mktemp("random-whisper"))


@pytest.fixture(scope="session")
def whisper_engine(random_whisper_dir: Path) -> FasterWhisperEngine:
    """faster-whisper on the random model, loaded once (CPU, int8).

    A random model is never sure of anything, so Whisper's no-speech filter would drop every
    decode; it is disabled so that text and word timings come through.
    """
    engine = FasterWhisperEngine(
        AsrSettings(
            port=0,
            engine="faster_whisper",
            model=str(random_whisper_dir),
            device="cpu",
            no_speech_threshold=1.0,
        )
    )
    engine.load()
    return engine


ServeAsr = Callable[..., AbstractAsyncContextManager[tuple[GrpcServer, Recognizer]]]


@pytest.fixture
def serve_asr() -> ServeAsr:
    """Starts an AsrService on a free port around a shared engine.

    Use as ``async with serve_asr(engine, **settings) as (server, recognizer)``.
    """

    @asynccontextmanager
    async def serve(
        engine: AsrEngine, **overrides: Any
    ) -> AsyncIterator[tuple[GrpcServer, Recognizer]]:
        settings = AsrSettings(port=0, grace_period_s=0, engine=engine.name, **overrides)
        recognizer = Recognizer(settings, engine, owns_engine=False)
        bindings, startup, shutdown = build_service(settings, recognizer)
        await startup()
        try:
            async with running_server(bindings) as server:
                yield server, recognizer
        finally:
            await shutdown()

    return serve
