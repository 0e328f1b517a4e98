"""Silero streamed window by window, and how phrases are spelled for the language model."""

from __future__ import annotations

import numpy as np
import pytest

from asr_svc.language_model.words import number_words, phrase_words
from asr_svc.vad import WINDOW_SAMPLES, SileroVad
from tests.asr_svc.speech import recording

pytestmark = pytest.mark.unit


def test_streamed_probabilities_match_faster_whispers_batch_run():
    from faster_whisper.vad import get_vad_model

    speech = recording([("what is two plus two", "en-us", 160)], lead_ms=500, tail_ms=500)
    audio = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32) / 32768
    audio = audio[: len(audio) // WINDOW_SAMPLES * WINDOW_SAMPLES]
    batch = np.asarray(get_vad_model()(audio.copy())).reshape(-1)
    stream = SileroVad().stream()
    streamed = np.array(
        [stream.probability(w) for w in audio.reshape(-1, WINDOW_SAMPLES)], dtype=np.float32
    )
    assert np.abs(streamed - batch).max() < 0.02
    onset = speech.spoken[0].start_ms * 16 // WINDOW_SAMPLES
    end = speech.spoken[0].end_ms * 16 // WINDOW_SAMPLES
    assert streamed[: onset - 2].max() < 0.3  # the silence before
    assert np.median(streamed[onset + 2 : end - 2]) > 0.8  # the speech


def test_a_window_must_be_512_samples():
    with pytest.raises(ValueError):
        SileroVad().stream().probability(np.zeros(100, dtype=np.float32))


def test_numbers_are_spelled_as_the_dictionary_has_them():
    assert number_words(0) == ["zero"]
    assert number_words(42) == ["forty", "two"]
    assert number_words(100) == ["one", "hundred"]
    assert number_words(2024) == ["two", "thousand", "twenty", "four"]
    assert phrase_words("What is 7 x 8? It's 56!") == [
        "what",
        "is",
        "seven",
        "x",
        "eight",
        "it's",
        "fifty",
        "six",
    ]
