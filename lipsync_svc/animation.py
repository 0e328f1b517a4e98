"""One StreamingAnimate call: audio in, frames (each with exactly its audio) out.

The audio is cut into frames of exactly ``sample_rate / fps`` samples, so the audio carried by
the responses, concatenated, is the input (plus silence padding the last frame to full length
when the input does not end on a frame boundary). A frame is handed to the engine as soon as its
audio is complete: the first frame waits for one frame period of audio plus the engine's time.
A reader task takes requests while the engine renders, so rendering never stalls the input;
its queue is bounded, which pushes back on a client that sends faster than frames are made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.engines.base import EngineStream, FrameRequest
from lipsync_svc.frames import FrameEncoder
from lipsync_svc.mouth import Viseme, VisemeSpan
from svc_core.audio import PcmFramer, check_pcm_chunk, pcm16_to_float

DEFAULT_FPS = 25


@dataclass(frozen=True)
class AudioInput:
    """One audio message: s16le PCM at the stream's rate, and optional viseme hints."""

    pcm: bytes
    visemes: tuple[VisemeSpan, ...] = ()


@dataclass(frozen=True)
class AnimatedFrame:
    """One output frame: its picture (encoded) and exactly the audio it covers."""

    index: int
    idle_index: int
    pts_us: int
    image: bytes
    width: int
    height: int
    pcm: bytes


@dataclass
class _Pending:
    request: FrameRequest
    pcm: bytes


class _End:
    pass


class VisemeTimeline:
    """Viseme hints received so far, and which of them overlap a frame."""

    def __init__(self) -> None:
        self._spans: list[VisemeSpan] = []

    def add(self, spans: Sequence[VisemeSpan]) -> None:
        """Adds hints (any order)."""
        self._spans.extend(span for span in spans if span.end_ms > span.start_ms)

    def overlapping(self, start_ms: float, end_ms: float) -> tuple[tuple[Viseme, float], ...]:
        """Hints overlapping [start_ms, end_ms), each with the share of the interval it covers.

        Hints that end before ``start_ms`` are dropped: frames are asked for in order.
        """
        self._spans = [span for span in self._spans if span.end_ms > start_ms]
        length = end_ms - start_ms
        found = []
        for span in self._spans:
            overlap = min(end_ms, span.end_ms) - max(start_ms, span.start_ms)
            if overlap > 0:
                found.append((span.viseme, overlap / length))
        return tuple(found)


class Animation:
    """Frames for one stream (blocking methods run in worker threads).

    Args:
        engine_stream: The engine's per-stream renderer.
        avatar: The avatar animated.
        sample_rate: Rate of the stream's audio.
        fps: Frames per second; must divide ``sample_rate``.
        encoder: Scales and encodes each picture.
        batch_size: Most frames handed to the engine at once.
        start_idle_index: The idle-loop frame the stream begins on (the one on screen).
    """

    def __init__(
        self,
        engine_stream: EngineStream,
        avatar: LoadedAvatar,
        *,
        sample_rate: int,
        fps: int,
        encoder: FrameEncoder,
        batch_size: int = 8,
        start_idle_index: int = 0,
    ) -> None:
        if sample_rate % fps:
            raise ValueError("fps must divide the sample rate")
        self._engine = engine_stream
        engine_stream.draw_at(encoder.width, encoder.height)
        self._avatar = avatar
        self.sample_rate = sample_rate
        self.fps = fps
        self.frame_samples = sample_rate // fps
        self._encoder = encoder
        self._batch_size = batch_size
        self._framer = PcmFramer(self.frame_samples)
        self._visemes = VisemeTimeline()
        self._next_index = 0
        self._reader: asyncio.Task[None] | None = None
        self._start_idle = start_idle_index % avatar.frame_count

    def push(self, item: AudioInput) -> list[_Pending]:
        """Takes one audio message; returns the frames it completes."""
        check_pcm_chunk(item.pcm)
        self._visemes.add(item.visemes)
        return [self._pending(pcm) for pcm in self._framer.push(item.pcm)]

    def finish(self) -> list[_Pending]:
        """The last, partial frame (padded with silence), if the audio left one."""
        rest = self._framer.flush(pad=True)
        return [] if rest is None else [self._pending(rest)]

    def _pending(self, pcm: bytes) -> _Pending:
        index = self._next_index
        self._next_index += 1
        start_ms = index * 1000 / self.fps
        request = FrameRequest(
            index=index,
            idle_index=self._avatar.idle_index(index, self.fps, self._start_idle),
            audio=pcm16_to_float(pcm),
            visemes=self._visemes.overlapping(start_ms, start_ms + 1000 / self.fps),
        )
        return _Pending(request, pcm)

    def render(self, batch: Sequence[_Pending]) -> list[AnimatedFrame]:
        """Renders and encodes a batch of frames (blocking)."""
        pictures = self._engine.render([p.request for p in batch])
        return [
            AnimatedFrame(
                index=p.request.index,
                idle_index=p.request.idle_index,
                pts_us=p.request.index * 1_000_000 // self.fps,
                image=self._encoder.encode(picture),
                width=self._encoder.width,
                height=self._encoder.height,
                pcm=p.pcm,
            )
            for p, picture in zip(batch, pictures, strict=True)
        ]

    def close(self) -> None:
        """Stops reading input (the call is over); frames being rendered are dropped."""
        if self._reader is not None:
            self._reader.cancel()

    async def run(self, inputs: AsyncIterator[AudioInput]) -> AsyncIterator[AnimatedFrame]:
        """Frames for ``inputs`` as they are made, in order, until the input ends and is flushed.

        An error in the input (a bad chunk) is raised after the frames before it are sent.
        """
        queue: asyncio.Queue[_Pending | _End | BaseException] = asyncio.Queue(
            maxsize=4 * self._batch_size
        )

        async def read() -> None:
            try:
                async for item in inputs:
                    for pending in self.push(item):
                        await queue.put(pending)
                for pending in self.finish():
                    await queue.put(pending)
                await queue.put(_End())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await queue.put(exc)

        reader = self._reader = asyncio.get_running_loop().create_task(read())
        try:
            finished = False
            while not finished:
                batch: list[_Pending] = []
                failure: BaseException | None = None
                item = await queue.get()
                while True:
                    if isinstance(item, _End):
                        finished = True
                        break
                    if isinstance(item, BaseException):
                        failure = item
                        break
                    batch.append(item)
                    if len(batch) >= self._batch_size or queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    for frame in await asyncio.to_thread(self.render, batch):
                        yield frame
                if failure is not None:
                    raise failure
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
