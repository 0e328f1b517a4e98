"""One student's peer connection bridged to one Converse stream, from offer to close.

A peer is closed (Converse cancelled, tracks stopped) as soon as any sign says the student
left: the close endpoint, the data channel closing, the connection failing or closing, the
gateway ending the stream, or no connection within the connect timeout. aiortc itself would
notice a vanished browser only after ~30 s of ICE consent failure.

Video codecs are offered in the edge's order of preference (H.264 first, then VP8); the one
negotiated decides how the idle loop and the turns are encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

from rtc_edge.config import EdgeSettings, VideoFormat
from rtc_edge.converse_events import (
    ConversationReady,
    ConverseEvent,
    SpeechEvent,
    Transcript,
    TurnEvent,
    TutorAudio,
    TutorFrame,
)
from rtc_edge.datachannel import client_message, page_message
from rtc_edge.gateway_link import ConverseLink
from rtc_edge.hop_times import TurnHops
from rtc_edge.idle_loop import SharedIdleLoops
from rtc_edge.microphone import QuietBatching, decode_on_the_loop, forward_microphone
from rtc_edge.microphone_dtx import with_opus_dtx
from rtc_edge.microphone_receiver import without_playout_delay
from rtc_edge.playout import MediaPlayout
from rtc_edge.tracks import PlayoutAudioTrack, PlayoutVideoTrack
from rtc_edge.video_encoding import VIDEO_CODECS, EncoderSettings, VideoCodecName

logger = logging.getLogger(__name__)

# Messages for the page held until its data channel opens.
PENDING_MESSAGES = 256


def video_codec_preferences(names: list[VideoCodecName]) -> list[RTCRtpCodecCapability]:
    """aiortc's video codecs in the order of ``names`` (constrained baseline H.264 first),
    with retransmission (RTX) kept."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs

    def rank(codec: RTCRtpCodecCapability) -> tuple[int, int]:
        name = codec.mimeType.lower().removeprefix("video/")
        constrained = str(codec.parameters.get("profile-level-id", "")).lower() != "42e01f"
        return (names.index(name) if name in names else len(names), int(constrained))

    chosen = [c for c in capabilities if c.mimeType.lower().removeprefix("video/") in names]
    rtx = [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return sorted(chosen, key=rank) + rtx


def negotiated_codecs(sdp: str) -> dict[str, str]:
    """The codec each media kind of an SDP sends with (its first codec), lower-case names."""
    description = SessionDescription.parse(sdp)
    return {
        media.kind: media.rtp.codecs[0].name.lower()
        for media in description.media
        if media.kind in ("audio", "video") and media.rtp.codecs
    }


class PeerSession:
    """A peer connection, its tracks and data channel, and its Converse stream.

    Args:
        peer_id: The edge's id of this peer.
        link: The Converse stream, already open (the gateway said ready).
        ready: The gateway's ready message.
        settings: Edge settings.
        idle_loops: The shared, encoded idle loops.
        on_closed: Called once when the peer is closed (the registry forgets it).
        video: This session's video size and rate (default: the settings').
    """

    def __init__(
        self,
        *,
        peer_id: str,
        link: ConverseLink,
        ready: ConversationReady,
        token: str,
        settings: EdgeSettings,
        idle_loops: SharedIdleLoops,
        on_closed: Callable[[PeerSession], None],
        video: VideoFormat | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.session_id = link.options.session_id
        self.token = token
        self.link = link
        self.ready = ready
        self.settings = settings
        self._idle_loops = idle_loops
        self._on_closed = on_closed
        self.video = video or VideoFormat.parse(None, settings)
        self.playout = MediaPlayout(
            fps=self.video.fps,
            buffer_s=settings.media_buffer_s,
            on_playback=self._playback_changed,
        )
        encoder = EncoderSettings(
            codec=settings.video_codecs[0],
            fps=self.video.fps,
            bitrate_kbps=settings.video_bitrate_kbps,
            keyframe_interval=max(1, round(settings.video_keyframe_interval_s * self.video.fps)),
            hardware=settings.video_hardware_encoder,
        )
        fallback = (
            (self.video.width, self.video.height)
            if self.video.width
            else (settings.fallback_width, settings.fallback_height)
        )
        self.video_track = PlayoutVideoTrack(self.playout, encoder, fallback_size=fallback)
        self.audio_track = PlayoutAudioTrack(self.playout, dtx=settings.audio_dtx)
        self.codecs: dict[str, str] = {}
        self.hops = TurnHops()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: RTCDataChannel | None = None
        self._pending: deque[str] = deque(maxlen=PENDING_MESSAGES)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.close_reason = ""
        self._closed_event = asyncio.Event()
        # Whether the student's microphone is decoded by the edge, each packet as soon as it
        # is in order: only then does the edge take Opus DTX (aiortc's own receiver would hold
        # a DTX packet until four more came, 1.6 s, and decode it as 20 ms of sound).
        self._microphone_on_loop = False
        self._microphone_unbuffered = False

    # Setup -----------------------------------------------------------------------------------

    async def answer(self, sdp: str, sdp_type: str) -> RTCSessionDescription:
        """Answers the browser's offer and starts bridging.

        Raises:
            ValueError: The offer is not a valid SDP offer.
        """
        pc = self.pc
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        offered = {m.kind for m in SessionDescription.parse(sdp).media}
        # Transceivers made before the offer is applied take it up, with the edge's codec order.
        if "audio" in offered:
            audio = pc.addTransceiver(self.audio_track, direction="sendrecv")
            self._microphone_unbuffered = without_playout_delay(audio.receiver)
        if "video" in offered:
            video = pc.addTransceiver(self.video_track, direction="sendonly")
            video.setCodecPreferences(video_codec_preferences(self.settings.video_codecs))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
        answer = await pc.createAnswer()
        if (
            self.settings.microphone_dtx
            and self._microphone_on_loop
            and self._microphone_unbuffered
        ):
            # The microphone's silence as Opus DTX (the edge makes the silence: microphone_dtx).
            answer = RTCSessionDescription(sdp=with_opus_dtx(answer.sdp), type=answer.type)
        await pc.setLocalDescription(answer)
        self.codecs = negotiated_codecs(pc.localDescription.sdp)
        video_codec = self.codecs.get("video")
        if video_codec in VIDEO_CODECS:
            self.video_track.use_codec(video_codec)  # type: ignore[arg-type]
        self.audio_track.pre_encoded_silence = self.codecs.get("audio") == "opus"
        logger.info("peer %s negotiated %s", self.peer_id, self.codecs)
        self._spawn(self._read_gateway(), "gateway-reader")
        self._spawn(self._load_idle_loop(), "idle-loop")
        self._spawn(self._connect_deadline(), "connect-deadline")
        return pc.localDescription

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name}-{self.peer_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_idle_loop(self) -> None:
        loop = await self._idle_loops.get(
            self.ready.avatar_id,
            self.video_track.settings.software,
            token=self.token,
            width=self.video.width,
            height=self.video.height,
        )
        if loop is not None:
            self.video_track.show_idle_loop(loop)

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(self.settings.connect_timeout_s)
        if self.pc.connectionState != "connected":
            await self.close("the peer did not connect in time")

    # Peer events -----------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            for receiver in self.pc.getReceivers():
                if receiver.track is not track:
                    continue
                self._microphone_on_loop = decode_on_the_loop(receiver)
                if not self._microphone_on_loop:
                    logger.info("peer %s: the microphone decodes on aiortc's thread", self.peer_id)
            batching = QuietBatching(
                after_s=self.settings.microphone_quiet_after_s,
                batch_ms=self.settings.microphone_quiet_batch_ms,
            )
            self._spawn(
                forward_microphone(
                    track,
                    self.link.send_audio,
                    batching=batching,
                    on_sound=self.hops.sound_forwarded,
                ),
                "microphone",
            )

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.on("message", self._on_channel_message)
        channel.on("close", lambda: self._close_soon("data channel closed"))
        while self._pending:
            channel.send(self._pending.popleft())

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.info("peer %s connection %s", self.peer_id, state)
        if state in ("failed", "closed"):
            self._close_soon(f"connection {state}")

    def _on_channel_message(self, message: str | bytes) -> None:
        parsed = client_message(message)
        if parsed is None:
            self.send_json({"type": "error", "message": "unreadable message", "stage": "edge"})
        elif parsed[0] == "text":
            self._spawn(self.link.send_text(parsed[1]), "text")
        elif parsed[0] == "interrupt":
            # Silence the tutor at once; the gateway's INTERRUPTED event follows.
            self.playout.drop_queued()
            self._spawn(self.link.send_interrupt(), "interrupt")

    # Gateway -> peer -------------------------------------------------------------------------

    async def _read_gateway(self) -> None:
        reason = "the gateway ended the conversation"
        try:
            async for event in self.link.events():
                await self._handle(event)
        except grpc.aio.AioRpcError as error:
            reason = f"gateway stream failed: {error.code().name}"
            self.send_json(
                {
                    "type": "error",
                    "stage": "gateway",
                    "code": error.code().value[0],
                    "message": error.details() or error.code().name,
                }
            )
        await self.close(reason)

    async def _handle(self, event: ConverseEvent) -> None:
        if isinstance(event, TutorFrame):
            self.hops.frame_read(event.turn_id)
            await self.playout.wait_for_room()
            self.playout.push_frame(event)
            return
        if isinstance(event, TutorAudio):
            await self.playout.wait_for_room()
            self.playout.push_audio(event)
            return
        if isinstance(event, TurnEvent):
            if event.kind == "interrupted":
                # Its queued media go now; its media still on the wire are refused by id.
                dropped = self.playout.drop_turn(event.turn_id)
                logger.debug("peer %s interrupted: %d queued frames dropped", self.peer_id, dropped)
            elif event.kind == "started":
                # What still plays of an earlier answer stops: the student talked over it.
                dropped = self.playout.drop_other_turns(event.turn_id)
                if dropped:
                    logger.debug(
                        "peer %s: %d queued frames of an ended answer dropped",
                        self.peer_id,
                        dropped,
                    )
            else:  # completed or failed: its media are all sent
                self.playout.end_of_turn(event.turn_id)
        if isinstance(event, SpeechEvent) and event.name in ("started", "ended"):
            # A turn may start soon: say where the idle loop is, so its first frame follows.
            position = self.video_track.idle_position
            if position is not None:
                self.link.send_idle_position(position)
        final = event.turn_id if isinstance(event, Transcript) and event.final else ""
        self.hops.final_read(final)
        message = page_message(event)
        if message is not None:
            # Where an ended turn's time went on its way through the edge (hop_times).
            ended = isinstance(event, TurnEvent) and event.kind != "started"
            if ended and (edge_s := self.hops.ended(message["turn_id"])):
                message["edge_s"] = edge_s
            if ended:
                # How long the answer paused mid-way, its media late (a busy host).
                stalled_s = self.playout.take_stalled_s(message["turn_id"])
                message["stalled_ms"] = round(stalled_s * 1000, 1)
            self.send_json(message)
        self.hops.final_sent(final)

    def _playback_changed(self, state: str) -> None:
        if state == "speaking":
            self.hops.playing()
        self.send_json({"type": "playback", "state": state})

    def send_json(self, message: dict[str, Any]) -> None:
        """Sends a message to the page (held until its data channel opens)."""
        text = json.dumps(message)
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)
        elif self.channel is None:
            self._pending.append(text)

    # Teardown --------------------------------------------------------------------------------

    def _close_soon(self, reason: str) -> None:
        if not self.closed:
            self._spawn(self.close(reason), "close")

    async def close(self, reason: str = "closed") -> None:
        """Closes Converse, the tracks and the peer connection; safe to call again."""
        if self.closed:
            await self._closed_event.wait()
            return
        self.closed = True
        self.close_reason = reason
        logger.info("peer %s closing: %s", self.peer_id, reason)
        me = asyncio.current_task()
        for task in list(self._tasks):
            if task is not me:
                task.cancel()
        await self.link.close()
        self.playout.close()
        self.video_track.stop()
        self.audio_track.stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.pc.close()
        self._on_closed(self)
        self._closed_event.set()

    async def wait_closed(self) -> None:
        """Returns once the peer is fully closed."""
        await self._closed_event.wait()
