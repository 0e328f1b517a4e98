"""The edge's link to the gateway: Converse per peer, token checks, idle frames.

The edge speaks to the gateway only through the generated stubs, and only this module touches
them: what the gateway sends is turned into ``rtc_edge.converse_events`` dataclasses here. A
peer's offer is answered only once the gateway has said `ready`, so a bad or expired token
never gets media set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc

from rtc_edge.converse_events import (
    AssistantText,
    ConversationError,
    ConversationReady,
    ConverseEvent,
    SpeechEvent,
    Transcript,
    TurnEvent,
    TurnEventKind,
    TutorAudio,
    TutorFrame,
)
from rtc_edge.video_encoding import I420Image
from svc_core.retry import BROKEN_STREAM, Backoff, retry_unavailable, retryable

logger = logging.getLogger(__name__)

# The end-of-stream marker of grpc.aio reads (missing from grpc-stubs).
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]

# Requests waiting to be written to the gateway (20 ms audio chunks, texts, interrupts): about
# two seconds of audio. Past that the gateway is not keeping up and audio is dropped, newest
# first, rather than growing without bound.
OUTBOX_SIZE = 100

# Audio chunks still waiting when the writer gets to them are sent as one message of at most
# this many bytes (0.5 s at 16 kHz): a write costs the edge, the gateway and ASR a message
# each, and the chunks are late already, so merging them adds no delay. It happens only when
# the writer falls behind (a busy edge or gateway), and there it takes load off the three.
MAX_MERGED_AUDIO_BYTES = 16000

# Calls again while the gateway restarts (UNAVAILABLE): a student's offer waits up to ~5 s;
# a live stream tries to resume its session for ~10-17 s (a restart on a busy machine).
RECONNECT = Backoff(attempts=6, initial_s=0.2, max_s=2.0)
RESUME = Backoff(attempts=12, initial_s=0.2, max_s=2.0)

# Resumptions in a row that bring not one message back before the stream breaks again.
MAX_RESUMPTIONS = 3


def _broken(error: grpc.aio.AioRpcError) -> bool:
    """Whether a live stream failed because the gateway went away (not because it refused)."""
    return retryable(error, BROKEN_STREAM)


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


def forwarding_metadata(client: ClientIdentity | None) -> tuple[tuple[str, str], ...]:
    """Metadata naming the browser behind a call, so the gateway's limit on failed token
    checks counts against that browser and not against this edge (every student's calls
    come from here)."""
    if client is None or not client.address or not client.service_credential:
        return ()
    return (
        ("x-vtutor-forwarded-for", client.address),
        ("x-vtutor-service-credential", client.service_credential),
    )


@dataclass(frozen=True)
class ClientIdentity:
    """The browser a call is made for, and the credential that lets the edge say so."""

    address: str
    service_credential: str


async def check_engine_token(
    channel: grpc.aio.Channel,
    session_id: str,
    token: str,
    timeout_s: float,
    client: ClientIdentity | None = None,
) -> float:
    """Asks the gateway whether ``token`` is the session's engine token (CheckEngineToken).

    Returns:
        When the token expires, in unix seconds.

    Raises:
        GatewayRefused: The token is bad or expired, the session is unknown or ended, or the
            gateway cannot be reached in time.
    """
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    metadata = (("authorization", f"Bearer {token}"), *forwarding_metadata(client))
    request = gateway_pb2.CheckEngineTokenRequest(session_id=session_id)
    try:
        response = await retry_unavailable(
            lambda: stub.CheckEngineToken(request, metadata=metadata, timeout=timeout_s),
            RECONNECT,
            what="CheckEngineToken",
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
    # Frame size asked of the gateway; 0: the avatar's own.
    video_width: int = 0
    video_height: int = 0
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
                fps=options.video_fps,
                pixel_format=media_pb2.PIXEL_FORMAT_I420,
                width=options.video_width,
                height=options.video_height,
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
        client: The browser this stream is for (see ``forwarding_metadata``).
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str,
        options: StreamOptions,
        client: ClientIdentity | None = None,
    ) -> None:
        self.options = options
        self._stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        self._token = token
        self._client = client
        self._call: grpc.aio.StreamStreamCall | None = None
        self._outbox: asyncio.Queue[gateway_pb2.ConverseRequest] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self.dropped_audio_chunks = 0
        self.closed = False
        self._timeout_s = 10.0
        self._unsent: gateway_pb2.ConverseRequest | None = None
        self._held: gateway_pb2.ConverseRequest | None = None  # taken out, not audio: next
        self.merged_audio_chunks = 0
        # Times the stream was opened again after the gateway went away mid-conversation.
        self.resumptions = 0

    async def open(self, timeout_s: float) -> ConversationReady:
        """Opens the stream, sends the config and waits for `ready`.

        Raises:
            GatewayRefused: The token is bad or expired, the session is unknown or busy, or
                the gateway cannot be reached in time.
        """
        self._timeout_s = timeout_s
        try:
            first = await retry_unavailable(self._attempt, RECONNECT, what="Converse")
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
        ready = first.ready
        return ConversationReady(
            session_id=ready.session.session_id or self.options.session_id,
            avatar_id=ready.session.tutor.avatar_id,
            video=ready.video,
            output_sample_rate_hz=ready.output_sample_rate_hz,
        )

    async def _attempt(self) -> gateway_pb2.ConverseResponse:
        """One try at opening the stream: a new call, the config, its first response."""
        metadata = (("authorization", f"Bearer {self._token}"), *forwarding_metadata(self._client))
        call = self._stub.Converse(metadata=metadata)
        self._call = call
        try:
            # asyncio.timeout, not wait_for (which can swallow a cancellation on 3.11).
            async with asyncio.timeout(self._timeout_s):
                await call.write(_config_request(self.options))
            async with asyncio.timeout(self._timeout_s):
                first = await call.read()
        except BaseException:
            call.cancel()
            raise
        return first  # type: ignore[no-any-return]

    async def _resume(self) -> bool:
        """Opens the stream again after the gateway went away; True when it said `ready`.

        The session resumes with its token and history (on the restarted gateway or another
        replica); the turn that was playing is lost, audio queued meanwhile is sent on.
        """
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        try:
            first = await retry_unavailable(self._attempt, RESUME, what="Converse resume")
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            logger.warning("converse could not resume: %s", error)
            return False
        if self.closed or first is _EOF or not first.HasField("ready"):
            return False
        self.resumptions += 1
        logger.info("converse resumed session %s", self.options.session_id)
        self._writer = asyncio.create_task(self._write_loop(), name="converse-writer")
        return True

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

    def send_idle_position(self, idle_index: int) -> None:
        """Tells the gateway which idle-loop frame the student sees now, so the next turn's
        first frame continues from it (dropped, like audio, if the gateway lags)."""
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(
                gateway_pb2.ConverseRequest(
                    idle_position=gateway_pb2.IdlePosition(idle_index=idle_index)
                )
            )

    async def send_text(self, text: str) -> None:
        """Queues a typed message (waits for room: a text is never dropped)."""
        await self._outbox.put(gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=text)))

    async def send_interrupt(self) -> None:
        """Queues an interrupt of the turn in progress."""
        await self._outbox.put(gateway_pb2.ConverseRequest(interrupt=gateway_pb2.Interrupt()))

    async def events(self) -> AsyncIterator[ConverseEvent]:
        """Everything the gateway sends after `ready`, as events, until the stream ends.

        Raises:
            grpc.aio.AioRpcError: The stream failed (not when it was closed by ``close``).
        """
        assert self._call is not None, "open() first"
        failures = 0  # resumptions in a row without a message in between
        while True:
            try:
                message = await self._call.read()
            except grpc.aio.AioRpcError as error:
                if self.closed and error.code() == grpc.StatusCode.CANCELLED:
                    return
                failures += 1
                if (
                    _broken(error)
                    and failures <= MAX_RESUMPTIONS
                    and not self.closed
                    and await self._resume()
                ):
                    continue
                raise
            failures = 0
            if message is _EOF:
                return
            event = converse_event(message)
            if event is not None:
                yield event

    async def _write_loop(self) -> None:
        # One writer: grpc.aio allows a single pending write per call.
        assert self._call is not None
        try:
            while True:
                # A request whose write failed (the gateway went away) goes first on the
                # resumed stream, so a typed message is not lost to a restart.
                request = self._unsent or await self._next_request()
                self._unsent = request
                await self._call.write(request)
                self._unsent = None
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as error:
            logger.debug("converse writer stopped: %s", error)

    async def _next_request(self) -> gateway_pb2.ConverseRequest:
        """The next request to write; audio chunks queued behind an audio chunk join it (see
        ``MAX_MERGED_AUDIO_BYTES``), in order, up to the first request of another kind."""
        if self._held is not None:
            request, self._held = self._held, None
        else:
            request = await self._outbox.get()
        if request.WhichOneof("request") != "audio":
            return request
        pieces = [request.audio]
        size = len(request.audio)
        while size < MAX_MERGED_AUDIO_BYTES:
            try:
                following = self._outbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            if following.WhichOneof("request") != "audio" or size + len(following.audio) > (
                MAX_MERGED_AUDIO_BYTES
            ):
                self._held = following
                break
            pieces.append(following.audio)
            size += len(following.audio)
        if len(pieces) == 1:
            return request
        self.merged_audio_chunks += len(pieces) - 1
        return gateway_pb2.ConverseRequest(audio=b"".join(pieces))

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


# Converse responses -> events ----------------------------------------------------------------

_TURN_EVENTS: dict[int, TurnEventKind] = {
    gateway_pb2.TURN_EVENT_TYPE_STARTED: "started",
    gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_EVENT_TYPE_COMPLETED: "completed",
    gateway_pb2.TURN_EVENT_TYPE_FAILED: "failed",
}


def i420_from_proto(frame: media_pb2.VideoFrame) -> I420Image | None:
    """The frame as an I420 image; None for layouts the edge does not convert (JPEG)."""
    width, height = frame.width, frame.height
    if frame.pixel_format in (media_pb2.PIXEL_FORMAT_I420, media_pb2.PIXEL_FORMAT_UNSPECIFIED):
        if len(frame.data) != width * height * 3 // 2 or not width:
            return None
        plane = np.frombuffer(frame.data, dtype=np.uint8).reshape(height * 3 // 2, width)
        return I420Image(width, height, plane)
    if frame.pixel_format == media_pb2.PIXEL_FORMAT_RGB24:
        if len(frame.data) != width * height * 3 or not width:
            return None
        return rgb_to_i420(np.frombuffer(frame.data, dtype=np.uint8).reshape(height, width, 3))
    return None


def rgb_to_i420(rgb: np.ndarray) -> I420Image:
    """Converts an (h, w, 3) uint8 RGB array (even sides) to I420 with BT.601 coefficients."""
    height, width = rgb.shape[:2]
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.257 * r + 0.504 * g + 0.098 * b + 16
    u = -0.148 * r - 0.291 * g + 0.439 * b + 128
    v = 0.439 * r - 0.368 * g - 0.071 * b + 128
    u = u.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    v = v.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(p, 0, 255).astype(np.uint8).ravel() for p in (y, u, v)]
    return I420Image(width, height, np.concatenate(planes).reshape(height * 3 // 2, width))


def stage_ms(timings: gateway_pb2.TurnTimings) -> dict[str, float]:
    """The stages that happened, in ms from the end of speech (none without one: a typed turn)."""
    base = timings.end_of_speech_us
    if not base:
        return {}
    stages = (
        ("final_transcript", timings.final_transcript_us),
        ("first_token", timings.first_token_us),
        ("first_audio", timings.first_audio_us),
        ("first_frame", timings.first_frame_us),
    )
    return {name: round((us - base) / 1000, 1) for name, us in stages if us}


def _audio(turn_id: str, chunk: media_pb2.AudioChunk) -> TutorAudio:
    return TutorAudio(
        turn_id=turn_id, pcm=chunk.data, sample_rate_hz=chunk.sample_rate_hz, pts_us=chunk.pts_us
    )


def _speech_event_name(event: asr_pb2.SpeechEvent) -> str:
    name = asr_pb2.SpeechEventType.Name(event.type) if event.type else "UNSPECIFIED"
    return name.removeprefix("SPEECH_EVENT_TYPE_").removeprefix("SPEECH_").lower()


def converse_event(response: gateway_pb2.ConverseResponse) -> ConverseEvent | None:
    """The edge's event for a Converse response; None for `ready` and unknown kinds."""
    kind = response.WhichOneof("response")
    if kind == "media_frame":
        frame = response.media_frame
        return TutorFrame(
            turn_id=response.turn_id,
            image=i420_from_proto(frame.video),
            pts_us=frame.video.pts_us or frame.audio.pts_us,
            audio=_audio(response.turn_id, frame.audio),
        )
    if kind == "audio":
        return _audio(response.turn_id, response.audio)
    if kind == "transcript":
        t = response.transcript
        return Transcript(text=t.text, final=t.is_final, turn_id=t.turn_id)
    if kind == "assistant_text":
        return AssistantText(
            turn_id=response.assistant_text.turn_id, delta=response.assistant_text.delta
        )
    if kind == "turn_event":
        e = response.turn_event
        return TurnEvent(
            kind=_TURN_EVENTS.get(e.type, "unknown"),
            turn_id=e.turn_id,
            stage_ms=stage_ms(e.timings),
        )
    if kind == "speech_event":
        return SpeechEvent(name=_speech_event_name(response.speech_event))
    if kind == "error":
        e = response.error
        return ConversationError(code=e.code, message=e.message, stage=e.stage)
    return None


# The avatar's idle loop ----------------------------------------------------------------------


async def _idle_loop_period(
    stub: gateway_pb2_grpc.GatewayServiceStub,
    avatar_id: str,
    fps: int,
    metadata: tuple[tuple[str, str], ...],
    timeout_s: float,
) -> int:
    """Frames in one period of the avatar's idle loop at ``fps``; 0 when unknown.

    Raises:
        grpc.aio.AioRpcError: UNAUTHENTICATED (the caller tries its next credential).
    """
    try:
        reply = await stub.GetAvatar(
            admin_pb2.GetAvatarRequest(avatar_id=avatar_id), metadata=metadata, timeout=timeout_s
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return 0
    avatar = reply.avatar
    if avatar.idle_frame_count <= 0:
        return 0
    if avatar.idle_fps <= 0 or avatar.idle_fps == fps:
        return int(avatar.idle_frame_count)
    return max(1, round(avatar.idle_frame_count * fps / avatar.idle_fps))


async def fetch_idle_frames(
    channel: grpc.aio.Channel,
    avatar_id: str,
    *,
    credentials: list[str],
    fps: int,
    width: int,
    height: int,
    max_frames: int,
    timeout_s: float,
) -> list[I420Image]:
    """The avatar's idle loop (StreamIdleFrames, unpaced); empty if it cannot be fetched.

    Each credential is tried in turn (the service key, then the peer's token) until one is
    accepted.
    """
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    for credential in credentials:
        metadata = (("authorization", f"Bearer {credential}"),)
        frames: list[I420Image] = []
        try:
            # Exactly one period of the loop, so playing it round and round has no seam.
            period = await _idle_loop_period(stub, avatar_id, fps, metadata, timeout_s)
            request = admin_pb2.StreamIdleFramesRequest(
                avatar_id=avatar_id,
                fps=fps,
                pixel_format=media_pb2.PIXEL_FORMAT_I420,
                width=width,
                height=height,
                max_frames=min(period, max_frames) if period else max_frames,
                unpaced=True,
            )
            call = stub.StreamIdleFrames(request, metadata=metadata, timeout=timeout_s)
            async for response in call:
                image = i420_from_proto(response.frame)
                if image is not None:
                    frames.append(image)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                continue  # the next credential may be accepted
            logger.warning("idle loop of avatar %r unavailable: %s", avatar_id, error.code())
            return []
        logger.info("idle loop of avatar %r: %d frames", avatar_id, len(frames))
        return frames
    logger.warning(
        "idle loop of avatar %r refused: set RTC_GATEWAY_API_KEY to the gateway's API key",
        avatar_id,
    )
    return []
