"""The harness's thinking-pause questions: the pause lands between the two parts."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.utterances import (
    SAMPLE_RATE,
    THINKING_PAUSE_QUESTIONS,
    espeak_utterance,
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
