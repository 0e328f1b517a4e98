"""Decoded WebRTC audio (s16 stereo 48 kHz) becomes mono 16 kHz PCM for the gateway."""

from __future__ import annotations

import av
import numpy as np
import pytest

from rtc_edge.microphone import MicrophoneConverter

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
