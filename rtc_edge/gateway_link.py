"""One peer's Converse stream to the gateway: open (and learn if the token is good), send, read.

The edge speaks to the gateway only through the generated stubs. A peer's offer is answered
only once the gateway has said `ready`, so a bad or expired token never gets media set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

logger = logging.getLogger(__name__)

# The end-of-stream marker of grpc.aio reads (missing from grpc-stubs).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]

# Requests waiting to be written to the gateway (20 ms audio chunks, texts, interrupts): about
# two seconds of audio. Past that the gateway is not keeping up and audio is dropped, newest
# first, rather than growing without bound.
OUTBOX_SIZE = 100

# The gateway's refusals, as the HTTP status the edge answers the offer (or ICE servers) with.
_HTTP_STATUS = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.NOT_FOUND: 401,  # an unknown session looks like a bad token to the caller
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,  # the session already has a live stream
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
    grpc.StatusCode.UNAVAILABLE: 502,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class GatewayRefused(Exception):
    """The gateway refused or failed to open Converse.

    Attributes:
        http_status: What the offer endpoint answers with.
        message: The reason, safe to show to the student.
    """

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def refusal(error: grpc.aio.AioRpcError) -> GatewayRefused:
    """What the edge tells the caller about a failed gateway call (offer and ICE servers)."""
    status = _HTTP_STATUS.get(error.code(), 502)
    if status >= 500:
        # The details name internal addresses: log them, tell the student less.
        logger.warning("gateway unavailable: %s %s", error.code().name, error.details())
        return GatewayRefused(status, "the tutor service is unavailable")
    return GatewayRefused(status, error.details() or error.code().name)


async def check_engine_token(
    channel: grpc.aio.Channel, session_id: str, token: str, timeout_s: float
) -> float:
    """Asks the gateway whether ``token`` is the session's engine token (CheckEngineToken).

    Returns:
        When the token expires, in unix seconds.

    Raises:
        GatewayRefused: The token is bad or expired, the session is unknown or ended, or the
            gateway cannot be reached in time.
    """
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        response = await stub.CheckEngineToken(
            gateway_pb2.CheckEngineTokenRequest(session_id=session_id),
            metadata=metadata,
            timeout=timeout_s,
        )
    except grpc.aio.AioRpcError as error:
        raise refusal(error) from error
    expiry = response.expire_time
    return expiry.seconds + expiry.nanos / 1e9


@dataclass(frozen=True)
class StreamOptions:
    """What the edge asks of a Converse stream."""

    session_id: str
    input_sample_rate_hz: int = 16000
    output_sample_rate_hz: int = 48000  # Opus runs at 48 kHz: no resampling at the edge
    video_fps: int = 25
    interim_transcripts: bool = True


def _config_request(options: StreamOptions) -> gateway_pb2.ConverseRequest:
    pcm = media_pb2.AUDIO_ENCODING_PCM_S16LE
    return gateway_pb2.ConverseRequest(
        config=gateway_pb2.ConverseConfig(
            session_id=options.session_id,
            input_audio_format=media_pb2.AudioFormat(
                encoding=pcm, sample_rate_hz=options.input_sample_rate_hz, channels=1
            ),
            output_audio_format=media_pb2.AudioFormat(
                encoding=pcm, sample_rate_hz=options.output_sample_rate_hz, channels=1
            ),
            output_modalities=[
                gateway_pb2.MODALITY_TEXT,
                gateway_pb2.MODALITY_AUDIO,
                gateway_pb2.MODALITY_VIDEO,
            ],
            video=gateway_pb2.VideoSettings(
                fps=options.video_fps, pixel_format=media_pb2.PIXEL_FORMAT_I420
            ),
            interim_transcripts=options.interim_transcripts,
        )
    )


class ConverseLink:
    """A Converse stream for one peer.

    Args:
        channel: The edge's channel to the gateway.
        token: The session's engine token.
        options: Stream settings.
    """

    def __init__(self, channel: grpc.aio.Channel, token: str, options: StreamOptions) -> None:
        self.options = options
        self._stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        self._token = token
        self._call: grpc.aio.StreamStreamCall | None = None
        self._outbox: asyncio.Queue[gateway_pb2.ConverseRequest] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self.dropped_audio_chunks = 0
        self.closed = False

    async def open(self, timeout_s: float) -> gateway_pb2.SessionReady:
        """Opens the stream, sends the config and waits for `ready`.

        Raises:
            GatewayRefused: The token is bad or expired, the session is unknown or busy, or
                the gateway cannot be reached in time.
        """
        metadata = (("authorization", f"Bearer {self._token}"),)
        self._call = self._stub.Converse(metadata=metadata)
        try:
            await asyncio.wait_for(self._call.write(_config_request(self.options)), timeout_s)
            first = await asyncio.wait_for(self._call.read(), timeout_s)
        except grpc.aio.AioRpcError as error:
            await self.close()
            raise refusal(error) from error
        except TimeoutError as error:
            await self.close()
            raise GatewayRefused(504, "the gateway did not answer in time") from error
        if first is _EOF or not first.HasField("ready"):
            await self.close()
            raise GatewayRefused(502, "the gateway did not start the conversation")
        self._writer = asyncio.create_task(self._write_loop(), name="converse-writer")
        return first.ready

    def send_audio(self, pcm: bytes) -> None:
        """Queues student audio (mono s16le at the input rate); drops it if the gateway lags."""
        if not pcm:
            return
        try:
            self._outbox.put_nowait(gateway_pb2.ConverseRequest(audio=pcm))
        except asyncio.QueueFull:
            self.dropped_audio_chunks += 1
            if self.dropped_audio_chunks % 50 == 1:
                logger.warning(
                    "gateway is not taking audio; %d chunks dropped", self.dropped_audio_chunks
                )

    async def send_text(self, text: str) -> None:
        """Queues a typed message (waits for room: a text is never dropped)."""
        await self._outbox.put(gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=text)))

    async def send_interrupt(self) -> None:
        """Queues an interrupt of the turn in progress."""
        await self._outbox.put(gateway_pb2.ConverseRequest(interrupt=gateway_pb2.Interrupt()))

    async def responses(self) -> AsyncIterator[gateway_pb2.ConverseResponse]:
        """Everything the gateway sends after `ready`, until the stream ends.

        Raises:
            grpc.aio.AioRpcError: The stream failed (not when it was closed by ``close``).
        """
        assert self._call is not None, "open() first"
        while True:
            try:
                message = await self._call.read()
            except grpc.aio.AioRpcError as error:
                if self.closed and error.code() == grpc.StatusCode.CANCELLED:
                    return
                raise
            if message is _EOF:
                return
            yield message

    async def _write_loop(self) -> None:
        # One writer: grpc.aio allows a single pending write per call.
        assert self._call is not None
        try:
            while True:
                request = await self._outbox.get()
                await self._call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as error:
            logger.debug("converse writer stopped: %s", error)

    async def close(self) -> None:
        """Cancels the stream at once (the gateway ends the conversation); safe to repeat."""
        if self.closed:
            return
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._call is not None:
            self._call.cancel()
