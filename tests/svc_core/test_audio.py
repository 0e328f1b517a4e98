"""svc_core.audio: resampling keeps frequency and length; framing and validation."""

from __future__ import annotations

import numpy as np
import pytest

from svc_core.audio import (
    PcmFramer,
    StreamResampler,
    check_pcm_chunk,
    check_sample_rate,
    float_to_pcm16,
    pcm16_to_float,
    resample,
)
from svc_core.errors import InvalidArgument, ResourceExhausted

pytestmark = pytest.mark.unit


def _tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_whole_signal_resampling_keeps_frequency_and_length() -> None:
    tone = _tone(440, 48000, 1.0)
    out = resample(tone, 48000, 16000)
    assert abs(len(out) - 16000) <= 1
    assert abs(_dominant_frequency(out, 16000) - 440) < 2


def test_stream_resampling_in_chunks_keeps_frequency_and_length() -> None:
    pcm = float_to_pcm16(_tone(440, 48000, 1.0))
    resampler = StreamResampler(48000, 16000)
    chunk = 960 * 2  # 20 ms at 48 kHz
    out = b"".join(resampler.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk))
    out += resampler.flush()
    samples = pcm16_to_float(out)
    assert abs(len(samples) - 16000) <= 1
    assert abs(_dominant_frequency(samples, 16000) - 440) < 2


def test_same_rate_stream_is_passed_through_unchanged() -> None:
    pcm = float_to_pcm16(_tone(440, 16000, 0.1))
    resampler = StreamResampler(16000, 16000)
    assert resampler.process(pcm) == pcm
    assert resampler.flush() == b""


def test_pcm_conversion_round_trips_and_clips() -> None:
    samples = np.array([0.0, 0.5, -0.5, 2.0, -2.0], dtype=np.float32)
    back = pcm16_to_float(float_to_pcm16(samples))
    assert np.allclose(back[:3], samples[:3], atol=1 / 32768)
    assert back[3] == pytest.approx(32767 / 32768)
    assert back[4] == -1.0


def test_framer_cuts_exact_frames_and_pads_the_rest() -> None:
    framer = PcmFramer(640)
    frames = framer.push(bytes(1000)) + framer.push(bytes(1000))
    assert [len(f) for f in frames] == [1280]
    assert framer.pending_bytes == 720
    tail = framer.flush()
    assert tail is not None and len(tail) == 1280
    assert framer.flush() is None


@pytest.mark.parametrize("rate", [7999, 48001, -1])
def test_unsupported_sample_rates_are_invalid(rate: int) -> None:
    with pytest.raises(InvalidArgument, match="sample rate"):
        check_sample_rate(rate)


def test_zero_sample_rate_means_default() -> None:
    assert check_sample_rate(0, default=24000) == 24000


def test_odd_and_oversized_chunks_are_rejected() -> None:
    with pytest.raises(InvalidArgument, match="whole number"):
        check_pcm_chunk(bytes(3))
    with pytest.raises(ResourceExhausted):
        check_pcm_chunk(bytes(10), max_bytes=8)
    check_pcm_chunk(bytes(8), max_bytes=8)
