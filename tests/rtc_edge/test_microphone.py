"""Decoded WebRTC audio (s16 stereo 48 kHz) becomes mono 16 kHz PCM for the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack

from rtc_edge import microphone
from rtc_edge.microphone import (
    DecodeOnTheLoop,
    MicrophoneConverter,
    QuietBatcher,
    QuietBatching,
    decode_on_the_loop,
)

pytestmark = pytest.mark.unit


def _stereo_frame(left: np.ndarray, right: np.ndarray) -> av.AudioFrame:
    interleaved = np.stack([left, right], axis=1).reshape(1, -1).astype("<i2")
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = 48000
    return frame


def test_stereo_48k_becomes_mono_16k_keeping_the_tone() -> None:
    converter = MicrophoneConverter(16000)
    t = np.arange(48000) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    out = b""
    for start in range(0, 48000, 960):  # 20 ms frames, as aiortc decodes Opus
        piece = tone[start : start + 960]
        out += converter.convert(_stereo_frame(piece, piece))
    samples = np.frombuffer(out, dtype="<i2").astype(np.float32)
    # One second in, about one second out (less the resampler's delay).
    assert 15000 <= len(samples) <= 16000
    spectrum = np.abs(np.fft.rfft(samples[2000:]))
    peak_hz = np.argmax(spectrum) * 16000 / len(samples[2000:])
    assert abs(peak_hz - 440) < 5
    assert 5000 < np.abs(samples[2000:]).max() < 9000


def test_channels_are_averaged() -> None:
    converter = MicrophoneConverter(48000)  # no resampling: check the mix alone
    left = np.full(960, 1000, dtype=np.int16)
    right = np.full(960, 3000, dtype=np.int16)
    out = np.frombuffer(converter.convert(_stereo_frame(left, right)), dtype="<i2")
    assert len(out) == 960
    assert np.all(out == 2000)


@pytest.mark.parametrize("layout", ["s16p", "flt", "fltp"])
def test_other_sample_formats_are_mixed_alike(layout: str) -> None:
    converter = MicrophoneConverter(48000)
    left, right = np.full(960, 1000, dtype=np.int16), np.full(960, 3000, dtype=np.int16)
    planes: np.ndarray = np.stack([left, right])  # (channels, samples)
    if layout.startswith("flt"):
        planes = planes.astype(np.float32) / 32768
    data = planes if layout.endswith("p") else planes.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format=layout, layout="stereo")
    frame.sample_rate = 48000
    out = np.frombuffer(converter.convert(frame), dtype="<i2")
    assert len(out) == 960
    assert np.all(np.abs(out.astype(np.int32) - 2000) <= 1)


# Quiet batching (issue 20): a listening student's silence goes in 100 ms messages ----------

RATE = 16000
CHUNK = 320  # 20 ms at 16 kHz


def _chunk(level: int) -> bytes:
    """20 ms of a 440 Hz tone of peak ``level`` (0: digital silence)."""
    t = np.arange(CHUNK) / RATE
    return (level * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def _sent(batcher: QuietBatcher, chunks: list[bytes]) -> list[bytes]:
    return [out for out in (batcher.push(c) for c in chunks) if out]


def test_quiet_goes_in_batches_after_the_quiet_delay() -> None:
    batcher = QuietBatcher(QuietBatching(after_s=1.0, batch_ms=100), RATE)
    quiet = [_chunk(0)] * 100  # 2 s of digital silence
    sent = _sent(batcher, quiet)
    # The first second as it came (50 chunks of 20 ms), then 100 ms messages.
    assert [len(m) for m in sent[:50]] == [2 * CHUNK] * 50
    assert [len(m) for m in sent[50:]] == [2 * 5 * CHUNK] * 10
    assert b"".join(sent) == b"".join(quiet)  # nothing lost, nothing reordered


def test_sound_flushes_what_was_held_at_once() -> None:
    batcher = QuietBatcher(QuietBatching(after_s=1.0, batch_ms=100), RATE)
    quiet = [_chunk(0)] * 53  # batching has begun: 3 chunks held
    assert _sent(batcher, quiet)[-1] == _chunk(0)  # the 50th chunk: still sent alone
    speech = _chunk(3000)
    out = batcher.push(speech)
    assert out == _chunk(0) * 3 + speech  # held quiet and the sound, in one message, now
    # Speech goes chunk by chunk, and so does the quiet after it until the delay has passed.
    assert batcher.push(speech) == speech
    assert _sent(batcher, [_chunk(0)] * 50) == [_chunk(0)] * 50
    assert batcher.flush() == b""


def test_the_batcher_says_whether_the_last_chunk_had_sound() -> None:
    # What the edge's hop times take as the student's last sound (rtc_edge.hop_times).
    batcher = QuietBatcher(QuietBatching(after_s=1.0, batch_ms=100), RATE)
    batcher.push(_chunk(3000))
    assert batcher.last_was_sound
    batcher.push(_chunk(0))
    assert not batcher.last_was_sound
    batcher.push(_chunk(300))  # a noise floor above the quiet level counts as sound
    assert batcher.last_was_sound


def test_a_noise_floor_above_the_quiet_level_is_never_batched() -> None:
    batcher = QuietBatcher(QuietBatching(after_s=0.2, batch_ms=100), RATE)
    hiss = _chunk(300)  # about -43 dBFS RMS: above -50 dBFS, so not quiet
    assert _sent(batcher, [hiss] * 50) == [hiss] * 50
    faint = _chunk(60)  # about -57 dBFS RMS: quiet
    assert len(_sent(batcher, [faint] * 50)) < 50


def test_batching_can_be_turned_off() -> None:
    batcher = QuietBatcher(QuietBatching(after_s=0.1, batch_ms=0), RATE)
    quiet = [_chunk(0)] * 100
    assert _sent(batcher, quiet) == quiet


# Decoding on the event loop (issue 20): no thread switch per 20 ms frame --------------------


def test_frames_are_decoded_as_they_are_put_and_none_ends_the_thread() -> None:
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from loadtest.student_probe import opus_silence

    async def run() -> None:
        track_queue: asyncio.Queue[object] = asyncio.Queue()
        decoding = DecodeOnTheLoop(track_queue)
        opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
        for i in range(3):
            decoding.put((opus, JitterFrame(opus_silence(), i * 960)))
        # Decoded at once, on this thread: the frames are in the track's queue already.
        frames = [track_queue.get_nowait() for _ in range(3)]
        assert all(isinstance(f, av.AudioFrame) and f.samples == 960 for f in frames)
        assert decoding.decoded == 3 and decoding.empty()
        decoding.put(None)  # the receiver stopping: its decoder thread gets the None
        assert decoding.get_nowait() is None

    asyncio.run(run())


def test_a_peers_microphone_is_decoded_on_the_loop() -> None:
    from aiortc import RTCPeerConnection

    from loadtest.student_probe import SpeechTrack

    async def run() -> tuple[bool, float, int]:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        speaker = SpeechTrack(_tone_pcm(), start_delay_s=0.0)
        sender.addTrack(speaker)
        swapped: list[bool] = []
        received: asyncio.Queue[Any] = asyncio.Queue()

        def on_track(track: MediaStreamTrack) -> None:
            (rtp_receiver,) = [r for r in receiver.getReceivers() if r.track is track]
            swapped.append(decode_on_the_loop(rtp_receiver))
            swapped.append(decode_on_the_loop(rtp_receiver))  # a second time: nothing to do

            async def read() -> None:
                while True:
                    await received.put(await track.recv())

            tasks.append(asyncio.ensure_future(read()))

        tasks: list[asyncio.Future[None]] = []
        receiver.on("track", on_track)
        try:
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            speaker.opus = True
            frames = [await asyncio.wait_for(received.get(), 10) for _ in range(25)]
            (rtp_receiver,) = receiver.getReceivers()
            decoded = getattr(rtp_receiver, microphone._DECODER_QUEUE).decoded
        finally:
            for task in tasks:
                task.cancel()
            await sender.close()
            await receiver.close()  # the receiver's thread ends (or this would hang)
        peak = max(float(np.abs(f.to_ndarray()).max()) for f in frames)
        assert swapped == [True, False]
        return swapped[0], peak, decoded

    swapped, peak, decoded = asyncio.run(asyncio.wait_for(run(), 30))
    assert swapped and decoded >= 25
    assert peak > 3000  # the tone came through


def _tone_pcm() -> bytes:
    t = np.arange(16000) / 16000  # 1 s at 16 kHz
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_opus_is_decoded_straight_to_mono_and_keeps_the_voice(layout: str) -> None:
    """A browser's Opus (mono or stereo) comes out of the edge's decoder as mono frames, and
    a tone sent through it reaches the gateway's 16 kHz at its pitch and level."""
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = 48000, layout, "s16"
    encoder.bit_rate = 64000
    encoder.open()
    channels = 2 if layout == "stereo" else 1
    t = np.arange(48000) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    packets = []
    for start in range(0, 48000, 960):
        piece = np.repeat(tone[start : start + 960], channels).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="s16", layout=layout)
        frame.sample_rate = 48000
        packets += [bytes(p) for p in encoder.encode(frame)]

    async def run() -> bytes:
        track_queue: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
        decoding = DecodeOnTheLoop(track_queue)
        opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
        converter = MicrophoneConverter(16000)
        out = b""
        for i, packet in enumerate(packets):
            decoding.put((opus, JitterFrame(packet, i * 960)))
            while not track_queue.empty():
                frame = track_queue.get_nowait()
                assert frame.layout.name == "mono" and frame.sample_rate == 48000
                assert frame.pts == i * 960
                out += converter.convert(frame)
        return out

    samples = np.frombuffer(asyncio.run(run()), dtype="<i2").astype(np.float32)
    assert 15000 <= len(samples) <= 16000
    tail = samples[4000:]
    peak_hz = np.argmax(np.abs(np.fft.rfft(tail))) * 16000 / len(tail)
    assert abs(peak_hz - 440) < 5
    assert 5000 < np.abs(tail).max() < 10000
