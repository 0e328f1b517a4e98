"""One turn's stages: LLM -> TTS -> lip-sync, each its own task, joined by bounded queues.

LLM tokens go to the turn's output (captions) and to TTS at once; TTS audio goes to lip-sync at
once (or, audio only, to the output); each lip-sync frame, carrying its audio, goes to the
output. The output channel is bounded and read by the paced client sender, so the stages run
only a little ahead of playback. Cancelling the task running ``run()`` cancels every upstream
call of the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from gateway.conversation_context import ConversationContext
from gateway.events import AssistantTextOut, AudioOut, FrameOut
from gateway.tracing import TurnTrace
from gateway.turn_output import TurnOutput
from gateway.turn_plan import TurnPlan
from gateway.turn_records import TurnTimings
from gateway.upstream.channels import ResponseStream, UpstreamError
from gateway.upstream.lipsync_client import AnimationSettings
from gateway.upstream.llm_client import GenerationResult, TokenText
from gateway.upstream.tts_client import SpeechAudio, SpokenSegment, VoiceSettings

logger = logging.getLogger(__name__)


@dataclass
class PipelineProgress:
    """What the stages produced so far (what a turn's record is made from)."""

    answer: list[str] = field(default_factory=list)
    segments: list[SpokenSegment] = field(default_factory=list)
    generation: GenerationResult | None = None
    streams: dict[str, ResponseStream[Any]] = field(default_factory=dict)
    media_base_us: int | None = None


class TurnPipeline:
    """Runs one turn's stages into its output channel.

    Args:
        plan: What to say and how.
        context: The conversation (upstreams, settings, clock, media timeline).
        timings: The turn's timings (stages mark their first output here).
        output: The turn's output channel.
        trace: The turn's spans.
    """

    def __init__(
        self,
        plan: TurnPlan,
        context: ConversationContext,
        *,
        timings: TurnTimings,
        output: TurnOutput,
        trace: TurnTrace,
    ) -> None:
        self.plan = plan
        self.progress = PipelineProgress()
        self._context = context
        self._timings = timings
        self._output = output
        self._trace = trace

    async def run(self) -> None:
        """Runs every stage to the end (the output may still hold media for the client).

        Raises:
            UpstreamError: A stage failed (the other stages are cancelled first).
        """
        speech = self.plan.speech
        settings = self._context.settings
        to_tts: asyncio.Queue[str | None] | None = None
        if speech is not None:
            to_tts = asyncio.Queue(settings.stage_queue_size)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._stage("llm", self._llm(to_tts)))
                if speech is not None and to_tts is not None:
                    # Room for a whole answer, so TTS is read as it speaks and its word
                    # timings (barge-in needs them) arrive before the audio is played.
                    audio: asyncio.Queue[bytes | None] = asyncio.Queue(settings.speech_queue_size)
                    group.create_task(self._stage("tts", self._tts(speech.voice, to_tts, audio)))
                    if speech.video is not None:
                        group.create_task(
                            self._stage("lipsync", self._lipsync(speech.video, audio))
                        )
                    else:
                        rate = speech.voice.sample_rate_hz
                        group.create_task(self._stage("speaker", self._speaker(rate, audio)))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None

    async def _stage(self, name: str, work: Any) -> None:
        with self._trace.stage(name):
            await work

    def _now(self) -> int:
        return self._context.clock.now_us()

    async def _llm(self, to_tts: asyncio.Queue[str | None] | None) -> None:
        stream = await self._context.clients.llm.generate(self.plan.generation)
        self.progress.streams["llm"] = stream
        async with _closing(stream) as items:
            await self._read_llm(items, to_tts)
        if to_tts is not None:
            await to_tts.put(None)  # half-close: TTS speaks what is left, then ends

    async def _read_llm(
        self, items: AsyncIterator[Any], to_tts: asyncio.Queue[str | None] | None
    ) -> None:
        async for item in items:
            if isinstance(item, TokenText):
                now = self._now()
                self._timings.mark("first_token", now)
                self._timings.last_token_us = max(now, 1)
                self.progress.answer.append(item.text)
                await self._output.put(AssistantTextOut(self.plan.turn_id, item.text))
                if to_tts is not None:
                    await to_tts.put(item.text)
            else:
                self.progress.generation = item

    async def _tts(
        self,
        voice: VoiceSettings,
        text: asyncio.Queue[str | None],
        audio_out: asyncio.Queue[bytes | None],
    ) -> None:
        stream = await self._context.clients.tts.synthesize(voice, _drain(text))
        self.progress.streams["tts"] = stream
        async with _closing(stream) as items:
            async for item in items:
                if isinstance(item, SpeechAudio):
                    self._timings.mark("first_audio", self._now())
                    await audio_out.put(item.data)
                else:
                    self.progress.segments.append(item)
        await audio_out.put(None)

    async def _speaker(self, sample_rate_hz: int, audio: asyncio.Queue[bytes | None]) -> None:
        """Audio-only output: TTS audio to the client."""
        samples = 0
        while (data := await audio.get()) is not None:
            # Our own sample count is the turn's timeline, the one TTS marks are on.
            local_us = samples * 1_000_000 // sample_rate_hz
            samples += len(data) // 2
            event = AudioOut(self.plan.turn_id, data, self._media_pts(local_us), sample_rate_hz)
            await self._output.put(event)

    async def _lipsync(self, video: AnimationSettings, audio: asyncio.Queue[bytes | None]) -> None:
        stream = await self._context.clients.lipsync.animate(video, _drain(audio))
        self.progress.streams["lipsync"] = stream
        async with _closing(stream) as frames:
            async for frame in frames:
                self._timings.mark("first_frame", self._now())
                await self._output.put(
                    FrameOut(self.plan.turn_id, frame, self._media_pts(frame.pts_us))
                )

    def _media_pts(self, local_us: int) -> int:
        if self.progress.media_base_us is None:
            self.progress.media_base_us = self._context.media.begin(self._now())
        return self.progress.media_base_us + local_us

    def release_media(self, played_us: int) -> None:
        """Moves the stream's media clock past the ``played_us`` of this turn that was played."""
        if self.progress.media_base_us is not None:
            self._context.media.next_free_us = self.progress.media_base_us + played_us


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterable[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """Iterates an upstream stream and closes it on the way out, so a cancelled turn cancels
    its upstream call at once (not when the garbage collector finalizes the iterator)."""
    items = aiter(stream)
    try:
        yield items
    finally:
        await items.aclose()  # type: ignore[attr-defined]


async def _drain(queue: asyncio.Queue[str | None] | asyncio.Queue[bytes | None]) -> AsyncIterator:  # type: ignore[type-arg]
    while (item := await queue.get()) is not None:
        yield item


def _first_error(group: BaseExceptionGroup) -> BaseException:  # type: ignore[type-arg]
    """The error a failed turn reports: the first upstream failure, else an internal error."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    for exc in leaves:
        if isinstance(exc, UpstreamError):
            return exc
    for exc in leaves:
        if isinstance(exc, asyncio.CancelledError):
            return exc
    logger.error("turn stage failed", exc_info=leaves[0] if leaves else None)
    return UpstreamError("gateway", grpc.StatusCode.INTERNAL, "internal error (see the log)")
