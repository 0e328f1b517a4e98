"""MediaPlayout: due times from pts, paired audio/video, idle loop, interrupts, back-pressure."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rtc_edge.idle_loop import I420Image, still_frame
from rtc_edge.playout import AUDIO_PTIME_S, SILENCE, MediaPlayout
from tests.rtc_edge.synthetic_media import media_frame

pytestmark = pytest.mark.unit


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _idle(luma: int) -> I420Image:
    image = still_frame(64, 64)
    data = image.data.copy()
    data[:64] = luma
    return I420Image(64, 64, data)


def _luma(image: I420Image) -> int:
    return int(image.data[: image.height].mean())


def test_idle_loop_plays_when_nothing_is_queued() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    assert _luma(playout.next_video(clock.now)) == 40  # fallback still frame before the loop
    playout.set_idle_loop([_idle(10), _idle(20), _idle(30)])
    shown = [_luma(playout.next_video(clock.now)) for _ in range(5)]
    assert shown == [10, 20, 30, 10, 20]
    assert playout.next_audio(clock.now) == SILENCE


def test_paired_audio_and_video_play_at_the_same_due_time() -> None:
    clock = FakeClock()
    states: list[str] = []
    playout = MediaPlayout(fps=25, clock=clock, on_playback=states.append)
    playout.set_idle_loop([_idle(10)])
    for i in range(3):
        playout.push_media_frame(media_frame(i, luma=200 + i))
    assert playout.queued_video == 3
    assert playout.queued_audio == 6  # 40 ms of 48 kHz audio = two 20 ms frames each

    # Before the first due time (the start lead), idle and silence.
    assert _luma(playout.next_video(clock.now)) == 10
    assert playout.next_audio(clock.now) == SILENCE

    played_video, played_audio = [], 0
    for _ in range(8):  # 8 audio ticks = 160 ms, covering all three frames
        clock.now += AUDIO_PTIME_S
        if round((clock.now - 100.0) / AUDIO_PTIME_S) % 2 == 0:
            played_video.append(_luma(playout.next_video(clock.now)))
        if playout.next_audio(clock.now) != SILENCE:
            played_audio += 1
    assert played_audio == 6
    assert [v for v in played_video if v >= 200] == [200, 201, 202]
    clock.now += 0.04
    assert _luma(playout.next_video(clock.now)) == 10  # back to the idle loop
    assert states == ["speaking", "listening"]
    assert playout.queued_video == playout.queued_audio == 0


def test_a_frame_late_from_the_gateway_plays_from_now() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.push_media_frame(media_frame(0))
    clock.now += 0.2
    playout.next_video(clock.now)
    playout.next_audio(clock.now)
    playout.next_audio(clock.now)
    # Frame 1 should have been due 160 ms ago: it is re-anchored to now, not dropped.
    playout.push_media_frame(media_frame(1, luma=222))
    clock.now += 0.04  # the next video tick
    assert _luma(playout.next_video(clock.now)) == 222
    assert playout.next_audio(clock.now) != SILENCE


def test_interrupt_drops_queued_media_at_once() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.set_idle_loop([_idle(10)])
    for i in range(50):
        playout.push_media_frame(media_frame(i))
    dropped = playout.drop_queued()
    assert dropped == 150
    clock.now += 0.1
    assert _luma(playout.next_video(clock.now)) == 10
    assert playout.next_audio(clock.now) == SILENCE
    assert playout.stats.dropped_on_interrupt == 150


def test_audio_at_16k_is_resampled_to_48k() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(25):  # one second
        playout.push_media_frame(media_frame(i, rate=16000))
    playout.end_of_turn()
    # 48000 samples in 20 ms frames, give or take the resampler's delay.
    assert 48 <= playout.queued_audio <= 50


async def test_wait_for_room_blocks_until_frames_play() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, buffer_s=0.2, clock=clock)  # 5 video frames
    for i in range(5):
        playout.push_media_frame(media_frame(i))
    waiter = asyncio.create_task(playout.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    clock.now += 1.0
    playout.next_video(clock.now)
    for _ in range(10):
        playout.next_audio(clock.now)
    await asyncio.wait_for(waiter, 1)
    assert playout.queued_video == 0


async def test_close_releases_a_waiting_producer() -> None:
    playout = MediaPlayout(fps=25, buffer_s=0.04)
    playout.push_media_frame(media_frame(0))
    waiter = asyncio.create_task(playout.wait_for_room())
    await asyncio.sleep(0.01)
    playout.close()
    await asyncio.wait_for(waiter, 1)


def test_stale_audio_is_dropped_to_keep_sync() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(10):
        playout.push_media_frame(media_frame(i))
    clock.now += 0.3  # the audio track stalled for 300 ms
    assert playout.next_audio(clock.now) != SILENCE
    assert playout.stats.stale_audio_dropped > 0
    assert np.isclose(playout.stats.stale_audio_dropped, 20 - 1 - playout.queued_audio, atol=0)
