"""An aiortc student for the edge's tests and benchmark: relay-only through TURN, speaks, records.

It plays PCM as its microphone in real time (20 ms frames, then silence), and records every
decoded video frame (time, brightness) and audio frame (time, loudness), and every data
channel message, so tests can check what the edge delivered and when.

With Opus negotiated the microphone encodes its own packets: speech with one mono libopus
encoder, silence as one packet encoded once, so a listening student encodes nothing. (Handing
aiortc raw frames cost a thread-pool round trip, a stereo resampler and an encode per 20 ms:
the simulated students share the cores with the stack they measure, issue 20.) When the edge's
answer asks for Opus DTX (``usedtx=1``), it does what a browser's Opus then does: after 200 ms
of silence one TOC-only packet every 400 ms and nothing between.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import SessionDescription

from svc_core.audio import StreamResampler

FRAME_SAMPLES = 960  # 20 ms at 48 kHz
OPUS_RATE = 48000
# Frames of digital silence still sent through the encoder after sound, so the encoder's
# look-ahead (6.5 ms) comes out before the pre-encoded silence takes over.
_ENCODED_TAIL_FRAMES = 2
# Opus DTX as libopus does it: after this many 20 ms frames of silence, one packet (its TOC
# byte alone) every DTX_INTERVAL_FRAMES and nothing between.
DTX_HANGOVER_FRAMES = 10
DTX_INTERVAL_FRAMES = 20
FRAME_S = 0.02


def _opus_encoder() -> av.AudioCodecContext:
    """A mono 48 kHz libopus encoder for speech (VoIP mode, as aiortc's and browsers')."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = OPUS_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.options = {"application": "voip"}
    codec.open()
    return codec


def _frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = OPUS_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, OPUS_RATE)
    return frame


@functools.cache
def opus_silence() -> bytes:
    """One 20 ms Opus packet of digital silence, encoded once per process."""
    packets = _opus_encoder().encode(_frame(np.zeros(FRAME_SAMPLES, dtype="<i2"), 0))
    return b"".join(bytes(p) for p in packets)


def opus_dtx() -> bytes:
    """An Opus DTX packet: the silence packet's TOC byte alone (a frame of no data)."""
    return opus_silence()[:1]


def answer_asks_for_dtx(sdp: str) -> bool:
    """Whether an SDP asks for Opus DTX (``usedtx=1`` on its audio section's Opus codec)."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == "audio":
            return any(
                c.mimeType.lower() == "audio/opus" and str(c.parameters.get("usedtx")) == "1"
                for c in media.rtp.codecs
            )
    return False


class SpeechTrack(MediaStreamTrack):
    """A microphone that says ``pcm`` (mono s16le at ``rate``) once, then stays silent.

    ``speech_end`` is the monotonic time the last sample of the speech was sent. Set
    ``opus`` once Opus is negotiated: the track then returns encoded packets (see the module's
    docstring), else raw frames for aiortc to encode; and ``dtx`` too for Opus DTX in silence.
    """

    kind = "audio"

    def __init__(self, pcm: bytes = b"", rate: int = 16000, start_delay_s: float = 0.5) -> None:
        super().__init__()
        self._spoken = asyncio.Event()  # say() wakes a track sleeping through DTX
        self._pcm = b""
        self._offset = 0
        if pcm:
            self.say(pcm, rate, start_delay_s=start_delay_s)
        self._index = 0
        self._start: float | None = None
        self.speech_end: float | None = None
        self.opus = False
        self.dtx = False
        self._encoder: av.AudioCodecContext | None = None
        # Frames of digital silence in a row since the last sound (none yet: all silence).
        self._silent_frames = _ENCODED_TAIL_FRAMES
        self.encoded_frames = 0  # frames that went through the encoder (the rest: silence)
        self.dtx_packets = 0

    def say(self, pcm: bytes, rate: int = 16000, *, start_delay_s: float = 0.0) -> None:
        """Speaks ``pcm`` (mono s16le at ``rate``) after what is already queued."""
        resampler = StreamResampler(rate, 48000)
        audio = resampler.process(pcm) + resampler.flush()
        self._pcm = self._pcm[self._offset :] + bytes(2 * int(48000 * start_delay_s)) + audio
        self._offset = 0
        self.speech_end = None
        self._spoken.set()

    async def recv(self) -> av.AudioFrame | av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        while True:
            await self._tick()
            size = FRAME_SAMPLES * 2
            chunk = self._pcm[self._offset : self._offset + size]
            self._offset += len(chunk)
            if chunk and self._offset >= len(self._pcm) and self.speech_end is None:
                self.speech_end = time.monotonic()
            chunk = chunk.ljust(size, b"\0")
            pts = self._index * FRAME_SAMPLES
            if not self.opus:
                return _frame(np.frombuffer(chunk, dtype="<i2"), pts)
            packet = self._packet(chunk, pts)
            if packet is not None:
                return packet

    async def _tick(self) -> None:
        """Waits for the next 20 ms tick; in DTX, sleeps through the ticks that send nothing
        (woken by ``say``)."""
        now = time.monotonic()
        if self._start is None:
            self._start = now
            return
        self._index += 1
        idle = self._dtx_idle_ticks()
        if idle and self._offset >= len(self._pcm):
            self._spoken.clear()
            until = self._start + (self._index + idle) * FRAME_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._spoken.wait(), max(0.0, until - now))
            woke = math.ceil((time.monotonic() - self._start) / FRAME_S - 1e-6)
            skipped = max(0, min(idle, woke - self._index))
            self._index += skipped
            self._silent_frames += skipped  # nothing was queued: they were silent
        wait = self._start + self._index * FRAME_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _dtx_idle_ticks(self) -> int:
        """Ticks from this one on that send nothing if silence goes on (0: this one sends)."""
        if not (self.opus and self.dtx):
            return 0
        silent = self._silent_frames + 1  # this tick's frame, if silent
        if silent <= DTX_HANGOVER_FRAMES:
            return 0
        into = (silent - DTX_HANGOVER_FRAMES - 1) % DTX_INTERVAL_FRAMES
        return 0 if into == 0 else DTX_INTERVAL_FRAMES - into

    def _packet(self, chunk: bytes, pts: int) -> av.Packet | None:
        """The frame as Opus: encoded, or the shared packet once silence has lasted; in DTX, a
        TOC-only packet every ``DTX_INTERVAL_FRAMES`` and None (nothing sent) between."""
        self._silent_frames = self._silent_frames + 1 if chunk == bytes(len(chunk)) else 0
        if self.dtx and self._silent_frames > DTX_HANGOVER_FRAMES:
            self._encoder = None
            if (self._silent_frames - DTX_HANGOVER_FRAMES - 1) % DTX_INTERVAL_FRAMES:
                return None
            self.dtx_packets += 1
            data = opus_dtx()
        elif self._silent_frames > _ENCODED_TAIL_FRAMES:
            self._encoder = None  # the next sound starts a fresh encoder, as after a pause
            data = opus_silence()
        else:
            if self._encoder is None:
                self._encoder = _opus_encoder()
            samples = np.frombuffer(chunk, dtype="<i2")
            data = b"".join(bytes(p) for p in self._encoder.encode(_frame(samples, pts)))
            data = data or opus_silence()  # libopus gives one packet per 20 ms; never none
            self.encoded_frames += 1
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = Fraction(1, OPUS_RATE)
        return packet


@dataclass
class Received:
    """What the student got."""

    video: list[tuple[float, float]] = field(default_factory=list)  # (time, mean luma)
    audio: list[tuple[float, float]] = field(default_factory=list)  # (time, peak amplitude)
    messages: list[dict[str, Any]] = field(default_factory=list)
    message_times: list[float] = field(default_factory=list)

    def first_video_brighter_than(self, luma: float, after: float = 0.0) -> float | None:
        """Time of the first video frame brighter than ``luma`` after ``after``."""
        return next((t for t, y in self.video if t >= after and y > luma), None)

    def texts(self, kind: str) -> list[dict[str, Any]]:
        """Messages of one type."""
        return [m for m in self.messages if m.get("type") == kind]


class StudentProbe:
    """A relay-only aiortc peer that joins a session through the edge's HTTP API."""

    def __init__(self, edge_url: str, session_id: str, token: str) -> None:
        self.edge_url = edge_url
        self.session_id = session_id
        self.token = token
        self.pc: RTCPeerConnection | None = None
        self.channel: Any = None
        self.microphone: SpeechTrack | None = None
        self.received = Received()
        self.peer_id = ""
        self.codecs: dict[str, str] = {}  # what the edge negotiated, by media kind
        self._tasks: list[asyncio.Task[None]] = []
        self.channel_open = asyncio.Event()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def ice_servers(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """The edge's ICE configuration."""
        url = f"{self.edge_url}/v1/ice-servers?session_id={self.session_id}"
        async with http.get(url, headers=self.headers) as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    async def connect(
        self,
        speech: bytes = b"",
        *,
        speech_rate: int = 16000,
        video: dict[str, int] | None = None,
        video_codecs: list[str] | None = None,
    ) -> int:
        """Offers, and answers; returns the HTTP status of the offer (200 when connected).

        Args:
            speech: What the microphone says first.
            speech_rate: Its sample rate.
            video: The picture to ask for (``{"width", "height", "fps"}``); None: the edge's.
            video_codecs: Offer only these video codecs (e.g. ``["vp8"]``); None: aiortc's.
        """
        async with aiohttp.ClientSession() as http:
            ice = await self.ice_servers(http)
            servers = [
                RTCIceServer(urls=s["urls"], username=s["username"], credential=s["credential"])
                for s in ice["iceServers"]
            ]
            self.pc = pc = RTCPeerConnection(
                RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)
            )
            self.channel = pc.createDataChannel("chat")
            self.channel.on("open", self.channel_open.set)
            self.channel.on("message", self._on_message)
            self.microphone = SpeechTrack(speech, speech_rate)
            pc.addTrack(self.microphone)
            transceiver = pc.addTransceiver("video", direction="recvonly")
            capabilities = RTCRtpReceiver.getCapabilities("video")
            if video_codecs is not None and capabilities is not None:
                transceiver.setCodecPreferences(
                    [
                        c
                        for c in capabilities.codecs
                        if c.mimeType.lower().removeprefix("video/") in video_codecs
                    ]
                )
            pc.on("track", self._on_track)
            await pc.setLocalDescription(await pc.createOffer())
            offer: dict[str, Any] = {"sdp": pc.localDescription.sdp, "type": "offer"}
            if video is not None:
                offer["video"] = video
            url = f"{self.edge_url}/v1/sessions/{self.session_id}/offer"
            async with http.post(url, json=offer, headers=self.headers) as response:
                if response.status != 200:
                    return response.status
                answer = await response.json()
            self.peer_id = answer["peer_id"]
            self.codecs = dict(answer.get("codecs", {}))
            self.microphone.opus = self.codecs.get("audio") == "opus"
            self.microphone.dtx = self.microphone.opus and answer_asks_for_dtx(answer["sdp"])
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
            return 200

    def local_candidate_types(self) -> set[str]:
        """Types of the candidates this peer offered (relay only, when forced)."""
        assert self.pc is not None and self.pc.localDescription is not None
        lines = [x for x in self.pc.localDescription.sdp.splitlines() if "a=candidate" in x]
        return {line.split(" typ ")[1].split()[0] for line in lines}

    def send(self, message: dict[str, Any]) -> None:
        """Sends a JSON message on the data channel."""
        self.channel.send(json.dumps(message))

    async def close_via_edge(self) -> int:
        """POSTs the close endpoint; returns its status."""
        async with aiohttp.ClientSession() as http:
            url = f"{self.edge_url}/v1/sessions/{self.session_id}/close"
            async with http.post(url, headers=self.headers) as response:
                return response.status

    async def close(self) -> None:
        """Closes the peer connection and stops recording."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.pc is not None:
            await self.pc.close()

    def _on_message(self, message: str | bytes) -> None:
        self.received.messages.append(json.loads(message))
        self.received.message_times.append(time.monotonic())

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._record(track)))

    async def _record(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if isinstance(frame, av.VideoFrame):
                luma = frame.to_ndarray(format="yuv420p")[: frame.height]
                self.received.video.append((now, float(luma.mean())))
            elif isinstance(frame, av.AudioFrame):
                peak = float(np.abs(frame.to_ndarray()).max()) if frame.samples else 0.0
                self.received.audio.append((now, peak))
