"""The student's microphone: decoded WebRTC audio -> mono -> 16 kHz s16le for Converse.

Audio goes to the gateway in the 20 ms chunks WebRTC decodes, except during a long quiet: a
listening student's microphone is silent most of the time, and each message costs the edge,
the gateway and ASR a gRPC write and a round trip apiece (issue 20: about half of a listening
student's server CPU). After ``QuietBatching.after_s`` of quiet, chunks are sent in batches of
``batch_ms``; the first chunk with sound goes at once, with the quiet held before it, so the
start of speech is not delayed and its end (which ASR hears long before the batching begins)
neither.

The student's audio is decoded where its packets arrive, on the event loop
(``decode_on_the_loop``), not on the decoder thread aiortc starts per receiver: a 20 ms Opus
frame decodes in ~30 us, less than the two thread switches and the wake-up of the loop that
the thread costs for every one of them. Opus is decoded straight to mono (libopus mixes the
channels as it decodes): aiortc's own decoder makes stereo, which took 85 us a frame to
decode and 40 more to mix down, against 35 us in all (issue 20: the microphone is most of a
listening student's cost at the edge, 50 frames a second).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError

from rtc_edge.microphone_dtx import FRAME_S, DtxPacket, DtxSilence, is_dtx
from svc_core.audio import StreamResampler

logger = logging.getLogger(__name__)

OPUS_RATE = 48000  # RTP's clock for Opus (RFC 7587), whatever the rate it was coded at
OPUS_TIME_BASE = Fraction(1, OPUS_RATE)


class MicrophoneConverter:
    """Turns decoded frames (aiortc gives s16 stereo 48 kHz) into mono PCM at ``target_rate``.

    The resampler keeps its filter state between frames; it is rebuilt if the input rate
    changes (a renegotiated codec).
    """

    def __init__(self, target_rate: int = 16000) -> None:
        self.target_rate = target_rate
        self._resampler: StreamResampler | None = None

    def convert(self, frame: av.AudioFrame) -> bytes:
        """One decoded frame as mono s16le at the target rate (may be short: filter delay)."""
        channels = len(frame.layout.channels)
        samples = frame.to_ndarray()
        if channels == 1 and frame.format.name in ("s16", "s16p"):
            return self._resample(samples.astype("<i2", copy=False).tobytes(), frame.sample_rate)
        by_channel = (
            samples
            if frame.format.is_planar
            else [samples[0, c::channels] for c in range(channels)]
        )
        if frame.format.name in ("s16", "s16p"):
            # What aiortc decodes Opus to: mixed in integers (an eighth of the float mix's
            # cost, 50 times a second per student).
            mono = by_channel[0].astype(np.int32)
            for channel in by_channel[1:]:
                mono += channel
            pcm = (mono // channels).astype("<i2").tobytes()
        else:
            # Float formats are in [-1, 1]: a safety net.
            mixed = np.asarray(by_channel, dtype=np.float32).mean(axis=0) * 32768.0
            pcm = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
        return self._resample(pcm, frame.sample_rate)

    def _resample(self, pcm: bytes, rate: int) -> bytes:
        if self._resampler is None or self._resampler.from_rate != rate:
            self._resampler = StreamResampler(rate, self.target_rate)
        return self._resampler.process(pcm)


@dataclass(frozen=True)
class QuietBatching:
    """When the microphone's quiet audio is sent in batches.

    Attributes:
        after_s: Continuous quiet before batching starts. Longer than any silence that ends
            a turn (ASR's smart turn waits up to 2.5 s), so no end of turn waits for a batch.
        batch_ms: Audio per message while batching; 0 turns batching off. A message costs
            the edge alone ~0.3 ms of CPU (measured: 0.007 core per listening student at ~33
            messages a second); 200 ms makes it 5 a second.
        quiet_rms: A chunk quieter than this (RMS, full scale 1.0) is quiet. Speech is far
            louder (-20 to -35 dBFS); a noisy microphone above it is simply never batched.
    """

    after_s: float = 3.0
    batch_ms: int = 200
    quiet_rms: float = 10 ** (-50 / 20)


class QuietBatcher:
    """Groups one microphone's quiet chunks (mono s16le at ``rate``) into larger messages."""

    def __init__(self, batching: QuietBatching, rate: int) -> None:
        self._after = int(batching.after_s * rate)
        self._batch_bytes = 2 * (batching.batch_ms * rate // 1000)
        # Compared with the sum of squares of int16 samples (no square root per chunk).
        self._quiet_power = (batching.quiet_rms * 32768) ** 2
        self._batch_s = batching.batch_ms / 1000
        self._quiet_samples = 0
        self._held: list[bytes] = []
        self._held_bytes = 0

    @property
    def batch_s(self) -> float:
        """The quiet audio one message carries now: a batch's once batching began, else 0."""
        if self._batch_bytes <= 0 or self._quiet_samples <= self._after:
            return 0.0
        return self._batch_s

    def push(self, pcm: bytes) -> bytes:
        """Takes the next chunk; returns what to send now (b"" while a batch fills)."""
        if not pcm:
            return b""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        if float(np.dot(samples, samples)) >= self._quiet_power * len(samples):
            self._quiet_samples = 0
            return self.flush() + pcm if self._held else pcm
        self._quiet_samples += len(samples)
        if self._batch_bytes <= 0 or self._quiet_samples <= self._after:
            return pcm
        self._held.append(pcm)
        self._held_bytes += len(pcm)
        return self.flush() if self._held_bytes >= self._batch_bytes else b""

    @property
    def last_was_sound(self) -> bool:
        """Whether the chunk pushed last was louder than quiet."""
        return self._quiet_samples == 0

    def flush(self) -> bytes:
        """The chunks held so far, as one (b"" when none)."""
        out = b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        return out


# The receiver's own names (aiortc 1.16) for its decoder queue and thread.
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"


class DecodeOnTheLoop(queue.Queue[Any]):
    """An audio receiver's decoder queue that decodes each frame as it is put, on the event
    loop, and hands the result to the receiver's track.

    The receiver's decoder thread still starts and waits on this queue; the ``None`` that
    stops the receiver reaches it, and the thread ends the track as it would have. An Opus
    DTX packet is not decoded: the track gets a ``DtxPacket`` (see ``microphone_dtx``).
    """

    def __init__(self, track_queue: asyncio.Queue[Any]) -> None:
        super().__init__()
        self._track_queue = track_queue
        self._decoder: Any = None
        self._codec_name = ""
        self.decoded = 0
        self.dtx_packets = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        codec, encoded_frame = item
        if codec.name != self._codec_name:
            decoder = MonoOpusDecoder() if codec.name.lower() == "opus" else get_decoder(codec)
            self._decoder, self._codec_name = decoder, codec.name
        if isinstance(self._decoder, MonoOpusDecoder) and is_dtx(encoded_frame.data):
            self._track_queue.put_nowait(DtxPacket(encoded_frame.timestamp))
            self.dtx_packets += 1
            return
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as error:
            # As aiortc's thread does: the decoder keeps its state, the next frame may decode.
            logger.warning("microphone frame not decoded: %s", error)
            return
        for frame in frames:
            self._track_queue.put_nowait(frame)
        self.decoded += 1


class MonoOpusDecoder:
    """Opus to mono s16 at 48 kHz (aiortc's ``OpusDecoder`` makes stereo), same interface."""

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "r")
        assert isinstance(codec, av.AudioCodecContext)
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = OPUS_RATE
        self._codec = codec

    def decode(self, encoded_frame: JitterFrame) -> list[av.AudioFrame]:
        """The frame's audio (one 20 ms frame for a 20 ms packet)."""
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = OPUS_TIME_BASE
        return list(self._codec.decode(packet))


def decode_on_the_loop(receiver: RTCRtpReceiver) -> bool:
    """Makes an audio receiver decode on the event loop (see the module's docstring).

    Call it before the receiver starts (the peer's ``track`` event comes before). Returns
    False, changing nothing, when the receiver is not as aiortc 1.16 builds it or has started.
    """
    track_queue = getattr(receiver.track, "_queue", None)
    if (
        type(getattr(receiver, _DECODER_QUEUE, None)) is not queue.Queue
        or getattr(receiver, _DECODER_THREAD, True) is not None
        or not isinstance(track_queue, asyncio.Queue)
    ):
        return False
    setattr(receiver, _DECODER_QUEUE, DecodeOnTheLoop(track_queue))
    return True


async def forward_microphone(
    track: MediaStreamTrack,
    send: Callable[[bytes], None],
    *,
    target_rate: int = 16000,
    batching: QuietBatching | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_sound: Callable[[], None] | None = None,
) -> None:
    """Reads ``track`` until it ends, handing the converted audio to ``send`` (in 20 ms chunks,
    or batched while quiet; see ``QuietBatching``). While the student's microphone is in Opus
    DTX (a ``DtxPacket`` came), the silence it stands for is made here on ``clock``, in the
    same pieces, until a frame of sound comes (see ``microphone_dtx``). ``on_sound`` is called
    after each chunk with sound in it (not quiet) is sent."""
    converter = MicrophoneConverter(target_rate)
    batcher = QuietBatcher(batching or QuietBatching(), target_rate)
    silence = DtxSilence(target_rate)
    frames = 0
    while True:
        try:
            if silence.active:
                wait_s = silence.due_in(clock(), batcher.batch_s or FRAME_S)
                frame = await _recv_within(track, wait_s)
            else:
                frame = await track.recv()
        except MediaStreamError:
            break
        if frame is None:  # DTX: silence is due
            pcm = silence.fill(clock())
        elif isinstance(frame, DtxPacket):
            pcm = silence.start(clock())
        elif isinstance(frame, av.AudioFrame):
            silence.stop()
            frames += 1
            pcm = converter.convert(frame)
        else:
            continue
        pcm = batcher.push(pcm)
        if pcm:
            send(pcm)
            if on_sound is not None and batcher.last_was_sound:
                on_sound()
    held = batcher.flush()
    if held:
        send(held)
    logger.debug("microphone track ended after %d frames", frames)


async def _recv_within(track: MediaStreamTrack, timeout_s: float) -> Any:
    """The track's next item, or None when none came within ``timeout_s``."""
    try:
        # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that comes with
        # the frame (gh-86296), and the session's microphone would be read on after its end.
        async with asyncio.timeout(timeout_s):
            return await track.recv()
    except TimeoutError:
        return None
