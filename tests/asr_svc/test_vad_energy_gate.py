"""Silero's energy gate: clearly silent windows outside speech skip the model, nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from asr_svc.vad import GATE_BELOW_PROBABILITY, WINDOW_SAMPLES, SileroVad
from tests.asr_svc.speech import with_noise_floor
from tests.support.speech import espeak_pcm, silence_pcm

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def _windows(pcm: bytes) -> np.ndarray:
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return audio[: len(audio) // WINDOW_SAMPLES * WINDOW_SAMPLES].reshape(-1, WINDOW_SAMPLES)


def _speech_between_silences() -> tuple[np.ndarray, int, int]:
    """3 s of digital silence, a question, 3 s of silence; (windows, first, last speech window)."""
    speech = espeak_pcm("what is the capital of france", words_per_minute=160)
    lead = silence_pcm(3000)
    windows = _windows(lead + speech + silence_pcm(3000))
    loud = np.flatnonzero(np.abs(windows).max(axis=1) > 0.02)
    return windows, int(loud[0]), int(loud[-1])


def test_digital_silence_skips_the_model_and_speech_is_heard_the_same(vad: SileroVad) -> None:
    windows, first, last = _speech_between_silences()
    plain, gated = vad.stream(energy_gate=False), vad.stream()
    expected = np.array([plain.probability(w) for w in windows])
    got = np.array([gated.probability(w) for w in windows])

    # Most of the 6 s of silence never reached the model ...
    silent_windows = len(windows) - (last - first + 1)
    assert gated.gated >= silent_windows - 20
    assert gated.model_runs + gated.gated == len(windows)
    assert plain.gated == 0 and plain.model_runs == len(windows)
    # ... and the speech was heard as without the gate: the same windows count as speech.
    assert np.array_equal(got[first:last] > 0.5, expected[first:last] > 0.5)
    assert np.abs(got[first:last] - expected[first:last]).max() < 0.1
    assert (got[first:last] > 0.5).sum() > (last - first) // 2


def test_the_gate_waits_for_the_model_to_leave_speech(vad: SileroVad) -> None:
    windows, _, last = _speech_between_silences()
    plain, gated = vad.stream(energy_gate=False), vad.stream()
    expected = np.array([plain.probability(w) for w in windows])
    got = np.array([gated.probability(w) for w in windows])
    # After the speech the model runs on (its probability fading) until it says no speech.
    fading = last + 1 + int(np.flatnonzero(expected[last + 1 :] < GATE_BELOW_PROBABILITY)[0])
    assert fading > last + 1  # the model's probability does not drop at once
    assert np.allclose(got[last + 1 : fading + 1], expected[last + 1 : fading + 1], atol=0.05)
    assert (got[fading + 2 :] == 0.0).all()


def test_a_real_microphones_noise_floor_always_reaches_the_model(vad: SileroVad) -> None:
    noisy = with_noise_floor(silence_pcm(3000), dbfs=-60.0)
    stream = vad.stream()
    for window in _windows(noisy):
        stream.probability(window)
    assert stream.gated == 0
    assert stream.model_runs == len(_windows(noisy))
