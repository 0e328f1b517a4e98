"""What keeps false starts from barging in (issue 19): the ASR reports no speech for noise.

The gateway cuts the tutor off when the ASR confirms speech (SPEECH_STARTED, after 150 ms of
it). Bursts of noise (a cough's breath, a knock, rustling) and clicks must not be confirmed;
a short spoken word must. Real Silero VAD and pocketsphinx.
"""

from __future__ import annotations

import numpy as np
import pytest

from asr_svc.config import AsrSettings
from asr_svc.engines.base import StreamSpec
from asr_svc.events import SpeechEvent, SpeechEventKind
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.vad import SileroVad
from tests.support.speech import chunks, espeak_pcm, silence_pcm

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def _noise_burst(ms: int, level: float, seed: int) -> bytes:
    samples = 16 * ms
    noise = np.random.default_rng(seed).normal(0.0, level * 32768, samples) * np.hanning(samples)
    return np.clip(noise, -32768, 32767).astype("<i2").tobytes()


def _clicks(count: int) -> bytes:
    audio = np.zeros(16 * 100 * count, dtype=np.int16)
    audio[:: 16 * 100] = 20000  # one sample spikes, 100 ms apart
    return audio.astype("<i2").tobytes()


def _onsets(engine, vad: SileroVad, sound: bytes) -> int:
    pipeline = RecognitionPipeline(
        engine.open_stream(StreamSpec()),
        vad.stream(),
        AsrSettings().endpointing,
        input_rate=16000,
        interim_results=False,
        interim_interval_ms=200,
        incremental=True,
    )
    started = 0
    try:
        for chunk in chunks(silence_pcm(500) + sound + silence_pcm(1000), ms=20):
            events = pipeline.feed(chunk)
            if pipeline.final_due:
                events += pipeline.finalize()
            started += sum(
                isinstance(e, SpeechEvent) and e.kind is SpeechEventKind.STARTED for e in events
            )
    finally:
        pipeline.close()
    return started


@pytest.mark.parametrize("ms", [100, 200, 400])
@pytest.mark.parametrize("level", [0.05, 0.2])
def test_noise_bursts_are_not_speech(pocketsphinx_engine, vad, ms, level):
    assert _onsets(pocketsphinx_engine, vad, _noise_burst(ms, level, seed=ms)) == 0


def test_clicks_are_not_speech(pocketsphinx_engine, vad):
    assert _onsets(pocketsphinx_engine, vad, _clicks(5)) == 0


def test_a_short_word_is_speech(pocketsphinx_engine, vad):
    assert _onsets(pocketsphinx_engine, vad, espeak_pcm("wait")) == 1
