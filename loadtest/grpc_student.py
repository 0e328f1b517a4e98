"""A student over gRPC ``Converse``: a real-time microphone in, every response timed on arrival."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import grpc
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2

from loadtest.samples import TurnSample
from loadtest.student import RunContext, Student, StudentFailed
from loadtest.utterances import SAMPLE_RATE
from svc_core.retry import BROKEN_STREAM, Backoff, retry_unavailable, retryable

CHUNK_MS = 20
CHUNK_BYTES = SAMPLE_RATE * CHUNK_MS // 1000 * 2
_ENDED = {
    gateway_pb2.TURN_EVENT_TYPE_COMPLETED: "completed",
    gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_EVENT_TYPE_FAILED: "failed",
}
_STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
# Reconnecting to a restarting gateway: about 12 s of tries in all.
RECONNECT = Backoff(attempts=8, initial_s=0.2, max_s=3.0)


class Microphone:
    """Sends 20 ms chunks in real time, each once its audio has been "spoken": queued speech,
    else silence (a live microphone never stops)."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._speech: deque[tuple[bytes, Callable[[float], None], asyncio.Future[float]]] = deque()
        self._offset = 0
        self._start_sent = False

    def say(self, pcm: bytes, started: Callable[[float], None]) -> asyncio.Future[float]:
        """Queues ``pcm``; the future is set to the time its last chunk was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._speech.append((pcm, started, done))
        return done

    async def run(self) -> None:
        """Sends chunks until cancelled."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while True:
            tick += 1
            delay = start + tick * CHUNK_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send(self._next_chunk(time.monotonic()))

    def _next_chunk(self, now: float) -> bytes:
        if not self._speech:
            return bytes(CHUNK_BYTES)
        pcm, started, done = self._speech[0]
        if not self._start_sent:
            self._start_sent = True
            started(now - CHUNK_MS / 1000)  # this chunk's audio began one chunk ago
        chunk = pcm[self._offset : self._offset + CHUNK_BYTES]
        self._offset += CHUNK_BYTES
        if self._offset >= len(pcm):
            self._speech.popleft()
            self._offset = 0
            self._start_sent = False
            if not done.done():
                done.set_result(now)
        return chunk.ljust(CHUNK_BYTES, b"\0")


class GrpcStudent(Student):
    """A student whose microphone and speakers are a ``Converse`` stream."""

    def __init__(self, index: int, context: RunContext) -> None:
        super().__init__(index, context)
        self._requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
        self._token = ""
        self._config = gateway_pb2.ConverseConfig()
        self._call: grpc.aio.StreamStreamCall | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        # Turns interrupted: their media still arriving are dropped by id, as a player would.
        self._dropped_turns: set[str] = set()
        self.microphone = Microphone(
            lambda chunk: self._requests.put_nowait(gateway_pb2.ConverseRequest(audio=chunk))
        )

    async def connect(self) -> None:
        created = await self.create_session()
        self._token = created.engine_token
        self._config = gateway_pb2.ConverseConfig(
            session_id=created.session.session_id,
            input_audio_format=media_pb2.AudioFormat(sample_rate_hz=SAMPLE_RATE),
            output_audio_format=media_pb2.AudioFormat(sample_rate_hz=SAMPLE_RATE),
            video=gateway_pb2.VideoSettings(
                fps=self.config.fps, width=self.config.video_size, height=self.config.video_size
            ),
        )
        await self._open()
        self._tasks = [
            asyncio.create_task(self.microphone.run()),
            asyncio.create_task(self._read()),
        ]

    async def _open(self) -> None:
        """Opens Converse and reads its `ready`, again with backoff while the gateway is away
        (a restart): a reopened stream resumes the session with its token and history."""

        async def attempt() -> gateway_pb2.ConverseResponse:
            # Each call reads its own queue, so a dead call cannot swallow the next requests.
            requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
            requests.put_nowait(gateway_pb2.ConverseRequest(config=self._config))
            self._requests = requests
            call = self.context.gateway.Converse(
                self._request_stream(requests),
                metadata=(("authorization", f"Bearer {self._token}"),),
            )
            try:
                first = await asyncio.wait_for(call.read(), 15)
            except BaseException:
                call.cancel()
                raise
            self._call = call
            return first  # type: ignore[no-any-return]

        try:
            first = await retry_unavailable(attempt, RECONNECT, what=f"student {self.index}")
        except grpc.aio.AioRpcError as exc:
            raise StudentFailed(exc.code().name, str(exc.details())) from exc
        except TimeoutError as exc:
            raise StudentFailed("CLIENT_TIMEOUT", "no ready from Converse") from exc
        if first is grpc.aio.EOF or not first.HasField("ready"):  # type: ignore[attr-defined]
            raise StudentFailed("UNKNOWN", "Converse did not start with ready")

    async def _request_stream(
        self, requests: asyncio.Queue[gateway_pb2.ConverseRequest | None]
    ) -> AsyncIterator[gateway_pb2.ConverseRequest]:
        while (request := await requests.get()) is not None:
            yield request

    async def speak(self, pcm: bytes, started: Callable[[float], None]) -> tuple[float, float]:
        start: list[float] = []

        def on_start(at: float) -> None:
            start.append(at)
            started(at)

        end = await self.microphone.say(pcm, on_start)
        return start[0], end

    async def _read(self) -> None:
        while True:
            assert self._call is not None
            try:
                # read() rather than iteration: _open() already read the first message.
                while (response := await self._call.read()) is not grpc.aio.EOF:  # type: ignore[attr-defined]
                    self._on_response(response, time.monotonic())
                return
            except grpc.aio.AioRpcError as exc:
                if self._closing and exc.code() is grpc.StatusCode.CANCELLED:
                    return
                if retryable(exc, BROKEN_STREAM) and not self._closing:
                    # The gateway went away mid-conversation (a restart): the turn in flight
                    # is lost, the session is not. Count the break, then carry on.
                    self.recorder.error(exc.code().name)
                    try:
                        await self._open()
                        continue
                    except StudentFailed:
                        return
                self.recorder.error(exc.code().name)
                return

    def _media_owner(self, response: gateway_pb2.ConverseResponse) -> TurnSample | None:
        """The turn a media message belongs to (by its turn id); None to drop it."""
        if response.turn_id:
            if response.turn_id in self._dropped_turns:
                return None
            return self.by_turn.get(response.turn_id)
        return self.playing  # a gateway that does not stamp media yet

    def _on_response(self, response: gateway_pb2.ConverseResponse, now: float) -> None:
        kind = response.WhichOneof("response")
        if kind == "media_frame":
            frame = response.media_frame
            sample = self._media_owner(response)
            if sample is not None:
                if sample.first_frame_at is None:
                    sample.first_frame_at = now
                if sample.first_audio_at is None and frame.audio.data:
                    sample.first_audio_at = now
                sample.last_media_at = now
                sample.media.add_frame(
                    now,
                    frame.video.pts_us,
                    frame.audio.pts_us,
                    len(frame.audio.data) // 2,
                    frame.audio.sample_rate_hz,
                )
        elif kind == "audio":
            sample = self._media_owner(response)
            if sample is not None:
                if sample.first_audio_at is None:
                    sample.first_audio_at = now
                sample.last_media_at = now
        elif kind == "assistant_text":
            sample = self.by_turn.get(response.assistant_text.turn_id)
            if sample is not None and sample.first_token_at is None:
                sample.first_token_at = now
        elif kind == "transcript" and response.transcript.is_final:
            self.on_final_transcript(response.transcript.turn_id, now)
        elif kind == "turn_event":
            event = response.turn_event
            if event.type == gateway_pb2.TURN_EVENT_TYPE_STARTED:
                self.on_turn_started(event.turn_id)
            elif event.type in _ENDED:
                if event.type == gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED:
                    self._dropped_turns.add(event.turn_id)
                sample = self.on_turn_ended(event.turn_id, _ENDED[event.type], now)
                if sample is not None:
                    sample.gateway_ms = gateway_stage_ms(event.timings)
        elif kind == "error":
            error = response.error
            self.on_error(_STATUS_NAMES.get(error.code, str(error.code)), error.turn_id)

    async def close(self) -> None:
        for task in self._tasks[:1]:  # the microphone stops; then half-close
            task.cancel()
        self._requests.put_nowait(None)
        if len(self._tasks) > 1:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._tasks[1]), 20)
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def gateway_stage_ms(timings: gateway_pb2.TurnTimings) -> dict[str, float]:
    """Stage times from the gateway's TurnTimings (its stream clock), from end of speech, ms."""
    out: dict[str, float] = {}
    base = timings.end_of_speech_us
    if not base:
        return out
    for stage, value in (
        ("eos_to_final_transcript", timings.final_transcript_us),
        ("eos_to_first_token", timings.first_token_us),
        ("eos_to_first_audio", timings.first_audio_us),
        ("eos_to_first_frame", timings.first_frame_us),
    ):
        if value:
            out[stage] = (value - base) / 1000
    return out
