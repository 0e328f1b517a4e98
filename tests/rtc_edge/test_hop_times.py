"""The edge's hop times per turn (rtc_edge.hop_times): what a load test splits a wait by."""

from __future__ import annotations

import pytest

from rtc_edge.hop_times import MAX_TURNS, TurnHops
from tests.rtc_edge.fake_clock import FakeClock

pytestmark = pytest.mark.unit


def test_a_turn_keeps_the_first_of_each_moment_and_is_forgotten_when_it_ends() -> None:
    clock = FakeClock()
    hops = TurnHops(clock)
    hops.sound_forwarded()
    clock.now = 100.5
    hops.sound_forwarded()  # the last sound before the final is the end of speech
    clock.now = 101.0
    hops.final_read("t1")
    clock.now = 101.25
    hops.final_sent("t1")
    clock.now = 101.5
    hops.frame_read("t1")
    clock.now = 101.6
    hops.frame_read("t1")  # later frames change nothing
    hops.playing()
    clock.now = 102.0
    hops.playing()  # playing again (after a pause) is not the turn's start
    hops.sound_forwarded()  # the next question's sound: not this turn's
    assert hops.ended("t1") == {
        "speech_forwarded": 100.5,
        "final_read": 101.0,
        "final_sent": 101.25,
        "first_frame_read": 101.5,
        "first_frame_playing": 101.6,
    }
    assert hops.ended("t1") == {}


def test_turns_without_sound_or_id_note_what_they_can() -> None:
    clock = FakeClock()
    hops = TurnHops(clock)
    hops.final_read("")  # not a final: nothing noted
    hops.final_sent("")
    hops.final_read("typed")  # a typed turn: no sound came before it
    hops.playing()  # nothing read yet: no turn to start
    assert hops.ended("typed") == {"final_read": 100.0}


def test_turns_that_never_end_are_pushed_out() -> None:
    hops = TurnHops(FakeClock())
    for index in range(MAX_TURNS + 3):
        hops.frame_read(f"t{index}")
    assert hops.ended("t0") == {}
    assert hops.ended(f"t{MAX_TURNS + 2}") == {"first_frame_read": 100.0}
