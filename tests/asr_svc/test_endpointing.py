"""Endpointer: utterance starts and ends from speech probabilities, and option checks."""

from __future__ import annotations

import grpc
import pytest

from asr_svc.endpointing import Endpointer, EndpointingOptions, SpeechOffset, SpeechOnset
from asr_svc.events import EndOfTurnReason
from svc_core.errors import InvalidArgument

pytestmark = pytest.mark.unit

W = 512  # samples per window (32 ms)


def run(probabilities: list[float], options: EndpointingOptions) -> list[tuple[int, object]]:
    """(window index, decision) for every window that produced one, then the flush."""
    endpointer = Endpointer(options)
    decisions: list[tuple[int, object]] = []
    for index, probability in enumerate(probabilities):
        decision = endpointer.step(probability, index * W, (index + 1) * W)
        if decision is not None:
            decisions.append((index, decision))
    final = endpointer.flush(len(probabilities) * W)
    if final is not None:
        decisions.append((len(probabilities), final))
    return decisions


def test_speech_is_confirmed_after_min_speech_and_reported_from_its_onset():
    options = EndpointingOptions(min_speech_ms=150, min_silence_ms=300)
    decisions = run([0.0] * 10 + [0.9] * 20 + [0.0] * 20, options)
    # 150 ms is 4.7 windows: confirmed at the end of the 5th speech window (index 14).
    assert decisions[0] == (14, SpeechOnset(10 * W))
    # 300 ms of silence (9.4 windows) from window 30: ends in window 39, at the silence start.
    assert decisions[1] == (39, SpeechOffset(30 * W, forced=False))
    assert len(decisions) == 2


def test_a_blip_shorter_than_min_speech_is_ignored():
    options = EndpointingOptions(min_speech_ms=150)
    assert run([0.0] * 5 + [0.9] * 3 + [0.0] * 30, options) == []


def test_dips_inside_speech_do_not_end_the_utterance():
    options = EndpointingOptions(min_speech_ms=64, min_silence_ms=200)
    # Short pauses (4 windows = 128 ms) and hovering between the two thresholds (0.4).
    pattern = ([0.9] * 10 + [0.4] * 10 + [0.1] * 4) * 3 + [0.0] * 10
    decisions = run(pattern, options)
    assert [type(d) for _, d in decisions] == [SpeechOnset, SpeechOffset]


def test_max_utterance_cuts_and_a_new_utterance_follows():
    options = EndpointingOptions(min_speech_ms=64, max_utterance_ms=1000)
    decisions = run([0.9] * 100, options)
    onsets = [d for _, d in decisions if isinstance(d, SpeechOnset)]
    offsets = [d for _, d in decisions if isinstance(d, SpeechOffset)]
    assert len(onsets) >= 2
    assert offsets[0].forced
    # Cut no later than max_utterance (1000 ms = 31.25 windows) after the onset.
    assert offsets[0].end_sample - onsets[0].start_sample <= 32 * W
    assert onsets[1].start_sample >= offsets[0].end_sample


def test_flush_ends_speech_in_progress_but_not_a_candidate():
    options = EndpointingOptions(min_speech_ms=150)
    assert run([0.0] * 3 + [0.9] * 20, options)[-1] == (
        23,
        SpeechOffset(23 * W, forced=False, reason=EndOfTurnReason.END_OF_AUDIO),
    )
    assert run([0.0] * 3 + [0.9] * 2, options) == []


def test_threshold_from_options():
    strict = EndpointingOptions(vad_threshold=0.95, min_speech_ms=64)
    assert run([0.9] * 20, strict) == []
    assert run([0.97] * 20, strict)[0][1] == SpeechOnset(0)


def test_requested_values_override_defaults_and_zero_keeps_them():
    defaults = EndpointingOptions()
    chosen = defaults.with_requested(min_silence_ms=800, vad_threshold=0.6)
    assert chosen.min_silence_ms == 800
    assert chosen.vad_threshold == 0.6
    assert chosen.min_speech_ms == defaults.min_speech_ms
    assert chosen.max_utterance_ms == defaults.max_utterance_ms


@pytest.mark.parametrize(
    "requested",
    [
        {"min_silence_ms": -1},
        {"vad_threshold": 1.5},
        {"max_utterance_ms": 500},
        {"max_utterance_ms": 200_000},
        {"speech_pad_ms": 5_000},
    ],
)
def test_out_of_range_values_are_invalid_argument(requested):
    with pytest.raises(InvalidArgument) as info:
        EndpointingOptions().with_requested(**requested, max_utterance_limit_ms=120_000)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert next(iter(requested)) in info.value.message
