"""Decoded WebRTC audio (s16 stereo 48 kHz) becomes mono 16 kHz PCM for the gateway."""

from __future__ import annotations

import av
import numpy as np
import pytest

from rtc_edge.microphone import MicrophoneConverter, QuietBatcher, QuietBatching

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
