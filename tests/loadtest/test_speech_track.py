"""The simulated student's microphone: Opus packets it encodes itself, silence encoded once."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest

from loadtest.student_probe import FRAME_SAMPLES, SpeechTrack, opus_dtx, opus_silence

pytestmark = pytest.mark.unit


def _tone(ms: int, rate: int = 16000) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


async def _packets(track: SpeechTrack, count: int) -> list[av.Packet]:
    return [await track.recv() for _ in range(count)]  # type: ignore[misc]


def _decode(packets: list[av.Packet]) -> np.ndarray:
    decoder = av.CodecContext.create("opus", "r")
    assert isinstance(decoder, av.AudioCodecContext)
    decoder.sample_rate = 48000
    decoder.layout = "mono"
    out = []
    for packet in packets:
        for frame in decoder.decode(av.Packet(bytes(packet))):
            out.append(frame.to_ndarray().reshape(-1).astype(np.float32))
    return np.concatenate(out)


def test_speech_is_encoded_and_silence_is_the_shared_packet() -> None:
    track = SpeechTrack(_tone(200), start_delay_s=0.0)
    track.opus = True
    packets = asyncio.run(_packets(track, 20))  # 200 ms of speech, then 200 ms of silence
    # Timestamps run on in 20 ms steps whatever made the packet.
    assert [p.pts for p in packets] == [i * FRAME_SAMPLES for i in range(20)]
    # The speech and the encoder's tail went through the encoder; then the shared packet.
    assert track.encoded_frames == 10 + 2
    assert all(bytes(p) == opus_silence() for p in packets[12:])
    assert len(opus_silence()) < 10 < min(len(bytes(p)) for p in packets[:10])
    assert track.speech_end is not None
    # What the edge decodes: the tone (300 Hz) at its level, then silence.
    audio = _decode(packets)
    speech, silence = audio[960:9600], audio[12 * 960 :]
    spectrum = np.abs(np.fft.rfft(speech))
    assert abs(np.argmax(spectrum) * 48000 / len(speech) - 300) < 10
    assert 0.12 < np.abs(speech).max() < 0.37  # 8000 of 32768, decoded as float
    assert np.abs(silence).max() < 0.002


def test_speech_after_silence_starts_a_fresh_encoder() -> None:
    track = SpeechTrack(b"")
    track.opus = True

    async def speak_twice() -> list[av.Packet]:
        packets = await _packets(track, 5)  # silence: no encoding at all
        assert track.encoded_frames == 0
        track.say(_tone(100))
        return packets + await _packets(track, 10)

    packets = asyncio.run(speak_twice())
    assert track.encoded_frames == 5 + 2
    audio = _decode(packets[5:])
    assert np.abs(audio).max() > 0.12


def test_without_opus_the_track_gives_aiortc_raw_frames() -> None:
    track = SpeechTrack(_tone(40), start_delay_s=0.0)
    frames = asyncio.run(_packets(track, 3))
    assert all(isinstance(f, av.AudioFrame) and f.samples == FRAME_SAMPLES for f in frames)
    assert track.encoded_frames == 0


def test_with_dtx_silence_is_a_toc_packet_every_400_ms_and_speech_wakes_the_track() -> None:
    track = SpeechTrack(_tone(100), start_delay_s=0.0)
    track.opus, track.dtx = True, True

    async def run() -> list[av.Packet]:
        packets = await _packets(track, 5 + 10 + 2)  # speech, hangover, two DTX packets
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, track.say, _tone(60))  # the student speaks again, mid-interval
        return packets + await _packets(track, 2)

    packets = asyncio.run(run())
    ticks = [p.pts // FRAME_SAMPLES for p in packets]
    # 100 ms of speech and 200 ms of silence packets (the encoder's tail among them), each tick.
    assert ticks[:15] == list(range(15))
    assert all(len(bytes(p)) > 2 for p in packets[:15])
    # Then DTX: a TOC byte alone, 400 ms apart, nothing between.
    assert [bytes(p) for p in packets[15:17]] == [opus_dtx(), opus_dtx()]
    assert len(opus_dtx()) == 1 and ticks[15:17] == [15, 35]
    assert track.dtx_packets == 2
    # Speech 100 ms into the next interval goes at the next tick, not at the next DTX packet.
    speech = packets[17]
    assert len(bytes(speech)) > 10
    assert 35 < ticks[17] < 55 and ticks[18] == ticks[17] + 1
