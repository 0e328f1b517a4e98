"""The service's recognition core: validates a stream's request and runs it on the engine.

It owns what streams share (the engine, the Silero model, the bounded worker pool) and the
per-service limits, and knows nothing of protobuf.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from asr_svc.config import AsrSettings
from asr_svc.end_of_turn import TurnJudge
from asr_svc.engines import create_engine
from asr_svc.engines.base import AsrEngine, EngineStream, StreamSpec, primary_language
from asr_svc.events import RecognitionEvent
from asr_svc.knowledge_source import KnowledgeSource
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.stream_runner import StreamRunner
from asr_svc.vad import SileroVad
from svc_core.audio import check_pcm_chunk, check_sample_rate
from svc_core.errors import InvalidArgument, ResourceExhausted, Unavailable

logger = logging.getLogger(__name__)

PCM_S16LE = "pcm_s16le"
_KNOWLEDGE_BASE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class StreamRequest:
    """A client's recognition config; 0 or empty fields mean the service's default.

    Attributes:
        encoding: Audio encoding name; only ``pcm_s16le`` is accepted.
        sample_rate_hz: Rate of the audio the client sends (8-48 kHz; 0: 16 kHz).
        channels: 0 or 1 (mono only).
        language_code: BCP-47 language, "" for the engine's default.
        interim_results: Send interim results while an utterance is spoken.
        phrase_hints: Words and phrases the speaker is likely to say.
    """

    encoding: str = PCM_S16LE
    sample_rate_hz: int = 0
    channels: int = 0
    language_code: str = ""
    interim_results: bool = False
    phrase_hints: tuple[str, ...] = ()
    min_silence_ms: int = 0
    min_speech_ms: int = 0
    vad_threshold: float = 0.0
    max_utterance_ms: int = 0
    speech_pad_ms: int = 0
    knowledge_base_id: str = ""


class Recognizer:
    """Runs recognition streams on one engine.

    Args:
        settings: Service settings (engine, limits, defaults).
        engine: The engine to use; by default the one ``settings.engine`` names.
        owns_engine: Close the engine at ``stop`` (False when it is shared, as in tests).
    """

    def __init__(
        self, settings: AsrSettings, engine: AsrEngine | None = None, *, owns_engine: bool = True
    ) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self._owns_engine = owns_engine
        self._vad: SileroVad | None = None
        # Two bounded pools: short per-chunk audio work (VAD, incremental decoding) never
        # queues behind whole-utterance decodes, so speech events stay prompt under load.
        self._executor = ThreadPoolExecutor(
            max_workers=settings.stream_threads, thread_name_prefix="asr-stream"
        )
        self._decode_executor = ThreadPoolExecutor(
            max_workers=settings.worker_threads, thread_name_prefix="asr-decode"
        )
        self._interim_slots: asyncio.Semaphore | None = None
        self._active = 0
        # End-of-turn judgements (smart turn): their own pool, so a pause's ~50 ms verdict
        # never waits behind a decode and never holds up another stream's audio.
        self._turn_judge: TurnJudge | None = None
        self._turn_executor = ThreadPoolExecutor(
            max_workers=settings.turn_threads, thread_name_prefix="asr-turn"
        )
        self._turn_slots: asyncio.Semaphore | None = None
        self.knowledge = KnowledgeSource(
            settings.llm_address, timeout_s=settings.knowledge_timeout_s
        )

    @property
    def ready(self) -> bool:
        """True once the engine and VAD are loaded."""
        return self._vad is not None

    @property
    def active_streams(self) -> int:
        """Streams being recognized now."""
        return self._active

    async def start(self) -> None:
        """Loads the engine and the VAD off the event loop.

        Raises:
            StartupError: The engine or a model is missing; the message says what to do.
        """
        loop = asyncio.get_running_loop()
        logger.info("loading the %s engine", self.engine.name)
        await self.engine.start()
        vad = await loop.run_in_executor(self._decode_executor, SileroVad)
        if self.settings.end_of_turn == "smart_turn":
            self._turn_judge = await loop.run_in_executor(
                self._decode_executor,
                lambda: TurnJudge.load(
                    self.settings.turn_model,
                    threshold=self.settings.turn_threshold,
                    early_threshold=self.settings.turn_early_threshold,
                ),
            )
            self._turn_slots = asyncio.Semaphore(self.settings.turn_threads)
        # Interim re-decodes may use at most half the pool, so finals always find a worker.
        self._interim_slots = asyncio.Semaphore(max(1, self.settings.worker_threads // 2))
        self._vad = vad

    async def stop(self) -> None:
        """Releases the engine and the worker pool."""
        self._vad = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._decode_executor.shutdown(wait=False, cancel_futures=True)
        self._turn_executor.shutdown(wait=False, cancel_futures=True)
        await self.knowledge.close()
        if self._owns_engine:
            await self.engine.close()

    async def recognize(
        self, request: StreamRequest, audio: AsyncIterator[bytes]
    ) -> AsyncIterator[RecognitionEvent]:
        """Recognizes one stream of audio chunks (in the request's format).

        Raises:
            InvalidArgument: Bad config or audio.
            ResourceExhausted: Too many streams, or an oversized chunk.
            Unavailable: The engine is not loaded yet.
        """
        if self._vad is None or self._interim_slots is None:
            raise Unavailable("the speech recognition engine is not ready")
        input_rate = self._check_format(request)
        spec = self._spec(request)
        endpointing = self.settings.endpointing.with_requested(
            min_silence_ms=request.min_silence_ms,
            min_speech_ms=request.min_speech_ms,
            vad_threshold=request.vad_threshold,
            max_utterance_ms=request.max_utterance_ms,
            speech_pad_ms=request.speech_pad_ms,
            max_utterance_limit_ms=self.settings.max_utterance_limit_ms,
        )
        if self._active >= self.settings.max_streams:
            raise ResourceExhausted(
                f"too many recognition streams ({self.settings.max_streams}); retry later"
            )
        self._active += 1
        try:
            knowledge = await self.knowledge.text(request.knowledge_base_id)
            if knowledge is not None:
                spec = dataclasses.replace(spec, knowledge=knowledge)
            engine_stream = await self._open(spec)
            pipeline = RecognitionPipeline(
                engine_stream,
                self._vad.stream(),
                endpointing,
                input_rate=input_rate,
                interim_results=request.interim_results,
                interim_interval_ms=(
                    self.settings.interim_interval_ms
                    if self.engine.capabilities.incremental
                    else self.settings.redecode_interval_ms
                ),
                incremental=self.engine.capabilities.incremental,
                turn_judge=self._turn_judge,
                language=spec.language,
            )
            runner = StreamRunner(
                pipeline,
                executor=self._executor,
                decode_executor=self._decode_executor,
                check_chunk=self._check_chunk,
                queue_chunks=self.settings.input_queue_chunks,
                interim_slots=self._interim_slots,
                turn_executor=self._turn_executor,
                turn_slots=self._turn_slots,
                turn_wait_s=max(
                    0.0, (endpointing.min_silence_ms - endpointing.turn_pause_ms) / 1000
                ),
            )
            async for event in runner.run(audio):
                yield event
        finally:
            self._active -= 1

    def _check_format(self, request: StreamRequest) -> int:
        if request.encoding != PCM_S16LE:
            raise InvalidArgument(
                f"unsupported audio encoding {request.encoding}: send PCM s16le "
                "(AUDIO_ENCODING_PCM_S16LE)"
            )
        if request.channels not in (0, 1):
            raise InvalidArgument(f"{request.channels} channels: send mono audio (channels 1)")
        return check_sample_rate(request.sample_rate_hz)

    def _spec(self, request: StreamRequest) -> StreamSpec:
        hints = tuple(h.strip() for h in request.phrase_hints if h.strip())
        if len(hints) > self.settings.max_phrase_hints:
            raise InvalidArgument(
                f"{len(hints)} phrase hints: at most {self.settings.max_phrase_hints} are allowed"
            )
        too_long = next((h for h in hints if len(h) > self.settings.max_phrase_chars), None)
        if too_long is not None:
            raise InvalidArgument(
                f"a phrase hint of {len(too_long)} characters: at most "
                f"{self.settings.max_phrase_chars} per hint"
            )
        kb_id = request.knowledge_base_id
        if kb_id and not _KNOWLEDGE_BASE_ID.fullmatch(kb_id):
            raise InvalidArgument(
                f"invalid knowledge_base_id {kb_id[:40]!r}: use 1-128 characters of [A-Za-z0-9._-]"
            )
        return StreamSpec(language=primary_language(request.language_code), phrase_hints=hints)

    def _check_chunk(self, chunk: bytes) -> None:
        check_pcm_chunk(chunk, max_bytes=self.settings.max_chunk_bytes)

    async def _open(self, spec: StreamSpec) -> EngineStream:
        loop = asyncio.get_running_loop()
        # Building a decoder can take a while (pocketsphinx's general model: ~0.5 s).
        opening = loop.run_in_executor(self._decode_executor, self.engine.open_stream, spec)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The client went away while the stream was being built: release it when ready.
            opening.add_done_callback(_close_opened)
            raise


def _close_opened(future: asyncio.Future[EngineStream]) -> None:
    if not future.cancelled() and future.exception() is None:
        with contextlib.suppress(Exception):
            future.result().close()
