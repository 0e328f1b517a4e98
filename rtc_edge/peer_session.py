"""One student's peer connection bridged to one Converse stream, from offer to close.

A peer is closed (Converse cancelled, tracks stopped) as soon as any sign says the student
left: the close endpoint, the data channel closing, the connection failing or closing, the
gateway ending the stream, or no connection within the connect timeout. aiortc itself would
notice a vanished browser only after ~30 s of ICE consent failure.
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
    RTCSessionDescription,
)
from vtutor.gateway.v1 import gateway_pb2

from rtc_edge.config import EdgeSettings
from rtc_edge.datachannel import client_message, converse_event
from rtc_edge.gateway_link import ConverseLink
from rtc_edge.idle_loop import IdleLoopCache, still_frame
from rtc_edge.microphone import forward_microphone
from rtc_edge.playout import MediaPlayout
from rtc_edge.tracks import PlayoutAudioTrack, PlayoutVideoTrack

logger = logging.getLogger(__name__)

# Messages for the page held until its data channel opens.
PENDING_MESSAGES = 256


class PeerSession:
    """A peer connection, its tracks and data channel, and its Converse stream.

    Args:
        peer_id: The edge's id of this peer.
        link: The Converse stream, already open (the gateway said ready).
        ready: The gateway's ready message.
        settings: Edge settings.
        idle_loops: The shared idle-loop cache.
        on_closed: Called once when the peer is closed (the registry forgets it).
    """

    def __init__(
        self,
        *,
        peer_id: str,
        link: ConverseLink,
        ready: gateway_pb2.SessionReady,
        token: str,
        settings: EdgeSettings,
        idle_loops: IdleLoopCache,
        on_closed: Callable[[PeerSession], None],
    ) -> None:
        self.peer_id = peer_id
        self.session_id = link.options.session_id
        self.token = token
        self.link = link
        self.ready = ready
        self.settings = settings
        self._idle_loops = idle_loops
        self._on_closed = on_closed
        self.playout = MediaPlayout(
            fps=settings.video_fps,
            buffer_s=settings.media_buffer_s,
            fallback=still_frame(settings.fallback_width, settings.fallback_height),
            on_playback=self._playback_changed,
        )
        self.video_track = PlayoutVideoTrack(self.playout)
        self.audio_track = PlayoutAudioTrack(self.playout)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: RTCDataChannel | None = None
        self._pending: deque[str] = deque(maxlen=PENDING_MESSAGES)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.close_reason = ""
        self._closed_event = asyncio.Event()

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
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
        kinds = {t.kind for t in pc.getTransceivers()}
        if "video" in kinds:
            pc.addTrack(self.video_track)
        if "audio" in kinds:
            pc.addTrack(self.audio_track)
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._read_gateway(), "gateway-reader")
        self._spawn(self._load_idle_loop(), "idle-loop")
        self._spawn(self._connect_deadline(), "connect-deadline")
        return pc.localDescription

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name}-{self.peer_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_idle_loop(self) -> None:
        frames = await self._idle_loops.get(self.ready.session.tutor.avatar_id, token=self.token)
        if frames:
            self.playout.set_idle_loop(frames)

    async def _connect_deadline(self) -> None:
        await asyncio.sleep(self.settings.connect_timeout_s)
        if self.pc.connectionState != "connected":
            await self.close("the peer did not connect in time")

    # Peer events -----------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(forward_microphone(track, self.link.send_audio), "microphone")

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
            async for response in self.link.responses():
                await self._handle(response)
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

    async def _handle(self, response: gateway_pb2.ConverseResponse) -> None:
        kind = response.WhichOneof("response")
        if kind == "media_frame":
            await self.playout.wait_for_room()
            self.playout.push_media_frame(response.media_frame)
            return
        if kind == "audio":
            await self.playout.wait_for_room()
            self.playout.push_audio(response.audio)
            return
        if kind == "turn_event":
            event_type = response.turn_event.type
            if event_type == gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED:
                dropped = self.playout.drop_queued()
                logger.debug("peer %s interrupted: %d queued frames dropped", self.peer_id, dropped)
            elif event_type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED:
                self.playout.end_of_turn()
        message = converse_event(response)
        if message is not None:
            self.send_json(message)

    def _playback_changed(self, state: str) -> None:
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
            await asyncio.wait_for(self.pc.close(), 5)
        self._on_closed(self)
        self._closed_event.set()

    async def wait_closed(self) -> None:
        """Returns once the peer is fully closed."""
        await self._closed_event.wait()
