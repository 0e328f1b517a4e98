"""The harness's thinking-pause questions: the pause lands between the two parts."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.utterances import (
    MIN_REST_SAMPLES,
    SAMPLE_RATE,
    THINKING_PAUSE_QUESTIONS,
    espeak_utterance,
    insert_pause,
    thinking_pause_utterance,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("first", "rest"), THINKING_PAUSE_QUESTIONS[:3])
def test_the_pause_is_inserted_where_the_first_part_ends(first, rest):
    whole = espeak_utterance(f"{first} {rest}").pcm
    alone = espeak_utterance(first).pcm
    paused = thinking_pause_utterance(first, rest, pause_ms=700)
    samples = np.frombuffer(paused.pcm, dtype="<i2")
    assert len(samples) == len(whole) // 2 + 7 * SAMPLE_RATE // 10
    silent = np.flatnonzero(samples == 0)
    # One run of digital silence of 700 ms or a little more (where the cut met one of
    # espeak's own stop closures, which are digital zeros of up to ~130 ms).
    runs = np.split(silent, np.flatnonzero(np.diff(silent) != 1) + 1)
    long_runs = [r for r in runs if len(r) >= SAMPLE_RATE // 2]
    assert len(long_runs) == 1
    assert 7 * SAMPLE_RATE // 10 <= len(long_runs[0]) <= 7 * SAMPLE_RATE // 10 + SAMPLE_RATE // 6
    # After most of the first part, and before the whole sentence's end (spoken alone, the
    # first part's last syllable is drawn out, so the cut comes a little before its length).
    cut = long_runs[0][0]
    assert len(alone) // 2 - SAMPLE_RATE // 3 <= cut <= len(alone) // 2 + SAMPLE_RATE // 20
    assert paused.text == f"{first} {rest}"


def test_a_first_part_drawn_out_as_long_as_the_whole_still_pauses_before_the_rest():
    # A neural voice draws out a sentence's last word: "how does photosynthesis" alone can last
    # as long as "how does photosynthesis work". Slowed espeak-ng stands in for it here.
    whole = espeak_utterance("how does photosynthesis work").pcm
    alone = espeak_utterance("how does photosynthesis", words_per_minute=90).pcm
    assert len(alone) >= len(whole)
    samples = np.frombuffer(insert_pause(whole, alone, 700), dtype="<i2")
    silent = np.flatnonzero(samples == 0)
    runs = np.split(silent, np.flatnonzero(np.diff(silent) != 1) + 1)
    (pause,) = [r for r in runs if len(r) >= SAMPLE_RATE // 2]
    # "work" (~0.3 s in espeak-ng's voice) follows the pause, and most of the sentence precedes it.
    rest = len(samples) - pause[-1]
    assert MIN_REST_SAMPLES <= rest <= SAMPLE_RATE // 2
    assert pause[0] >= len(whole) // 4  # s16: half the bytes are samples


def test_a_first_part_that_is_the_whole_sentence_is_refused():
    whole = espeak_utterance("how does photosynthesis work").pcm
    with pytest.raises(ValueError, match="end"):
        insert_pause(whole, whole, 700)
