"""MediaPlayout: due times from pts, paired audio/video on one clock, drops by turn id,
back-pressure."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from rtc_edge.converse_events import TutorAudio, TutorFrame
from rtc_edge.playout import AUDIO_PTIME_S, UNDERRUN_HOLD_S, MediaPlayout
from rtc_edge.tracks import ENCODE_LEAD_S
from rtc_edge.video_encoding import I420Image
from tests.rtc_edge.fake_clock import FakeClock
from tests.rtc_edge.synthetic_media import flat_image, media_frame

pytestmark = pytest.mark.unit


def _luma(image: I420Image | None) -> int:
    """Brightness of a turn picture; 10 stands for the idle loop (None)."""
    return 10 if image is None else int(image.data[: image.height].mean())


def test_idle_when_nothing_is_queued() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    assert playout.next_video(clock.now) is None
    assert playout.next_audio(clock.now) is None
    assert playout.stats.idle_frames_played == 1


def test_paired_audio_and_video_play_at_the_same_due_time() -> None:
    clock = FakeClock()
    states: list[str] = []
    playout = MediaPlayout(fps=25, clock=clock, on_playback=states.append)
    for i in range(3):
        playout.push_frame(media_frame(i, luma=200 + i))
    playout.end_of_turn("turn-1")  # the gateway's turn ended: all its media are sent
    assert playout.queued_video == 3
    assert playout.queued_audio == 6  # 40 ms of 48 kHz audio = two 20 ms frames each

    # Before the first due time (the start lead), idle and silence.
    assert _luma(playout.next_video(clock.now)) == 10
    assert playout.next_audio(clock.now) is None

    played_video, played_audio = [], 0
    for _ in range(8):  # 8 audio ticks = 160 ms, covering all three frames
        clock.now += AUDIO_PTIME_S
        if round((clock.now - 100.0) / AUDIO_PTIME_S) % 2 == 0:
            played_video.append(_luma(playout.next_video(clock.now)))
        if playout.next_audio(clock.now) is not None:
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
    playout.push_frame(media_frame(0))
    clock.now += 0.2
    playout.next_video(clock.now)
    playout.next_audio(clock.now)
    playout.next_audio(clock.now)
    # Frame 1 should have been due 160 ms ago: it is re-anchored to now, not dropped.
    playout.push_frame(media_frame(1, luma=222))
    clock.now += 0.04  # the next video tick
    assert _luma(playout.next_video(clock.now)) == 222
    assert playout.next_audio(clock.now) is not None


def test_a_turn_whose_media_come_late_mid_way_reports_its_pause() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.push_frame(media_frame(0))
    clock.now += 0.2  # frame 0 plays, then nothing is queued: frame 1 was due 160 ms ago
    playout.next_video(clock.now)
    playout.next_audio(clock.now)
    playout.next_audio(clock.now)
    playout.push_frame(media_frame(1))
    playout.push_frame(media_frame(2))  # queued behind frame 1: on time from there
    assert playout.stats.stalls == 1
    assert 0.15 <= playout.take_stalled_s("turn-1") <= 0.25
    assert playout.take_stalled_s("turn-1") == 0.0  # reported once


def test_a_turn_that_plays_through_and_the_next_turn_report_no_pause() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for index in range(3):
        playout.push_frame(media_frame(index))
    playout.end_of_turn("turn-1")
    for _ in range(12):
        clock.now += AUDIO_PTIME_S
        playout.next_video(clock.now)
        playout.next_audio(clock.now)
    clock.now += 5.0  # a new turn, long after: its start is no pause of either turn
    playout.push_frame(media_frame(0, turn_id="turn-2"))
    playout.push_frame(media_frame(1, turn_id="turn-2"))
    assert playout.stats.stalls == 0
    assert playout.take_stalled_s("turn-1") == playout.take_stalled_s("turn-2") == 0.0


def test_interrupt_drops_queued_media_at_once() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(50):
        playout.push_frame(media_frame(i))
    dropped = playout.drop_queued()
    assert dropped == 150
    clock.now += 0.1
    assert _luma(playout.next_video(clock.now)) == 10
    assert playout.next_audio(clock.now) is None
    assert playout.stats.dropped_on_interrupt == 150


def test_audio_at_16k_is_resampled_to_48k() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(25):  # one second
        playout.push_frame(media_frame(i, rate=16000))
    playout.end_of_turn()
    # 48000 samples in 20 ms frames, give or take the resampler's delay.
    assert 48 <= playout.queued_audio <= 50


async def test_wait_for_room_blocks_until_frames_play() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, buffer_s=0.2, clock=clock)  # 5 video frames
    for i in range(5):
        playout.push_frame(media_frame(i))
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
    playout.push_frame(media_frame(0))
    waiter = asyncio.create_task(playout.wait_for_room())
    await asyncio.sleep(0.01)
    playout.close()
    await asyncio.wait_for(waiter, 1)


def test_stale_audio_is_dropped_to_keep_sync() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(10):
        playout.push_frame(media_frame(i))
    clock.now += 0.3  # the audio track stalled for 300 ms
    assert playout.next_audio(clock.now) is not None
    assert playout.stats.stale_audio_dropped > 0
    assert np.isclose(playout.stats.stale_audio_dropped, 20 - 1 - playout.queued_audio, atol=0)


def test_an_interrupted_turn_is_dropped_by_id_queued_or_still_arriving() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(10):
        playout.push_frame(media_frame(i, turn_id="old"))
    assert playout.drop_turn("old") == 30
    assert playout.queued_video == playout.queued_audio == 0
    # Frames of the interrupted turn still on the wire are refused; the next turn plays.
    playout.push_frame(media_frame(10, turn_id="old"))
    assert playout.queued_video == 0 and playout.stats.refused_after_interrupt == 1
    playout.push_frame(media_frame(0, turn_id="new", luma=150))
    clock.now += 0.1
    assert _luma(playout.next_video(clock.now)) == 150


def test_drop_turn_keeps_the_media_of_other_turns() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.push_frame(media_frame(0, turn_id="a"))
    playout.push_frame(media_frame(1, turn_id="b"))
    assert playout.drop_turn("a") == 3
    assert playout.queued_video == 1 and playout.queued_audio == 2


def test_a_turn_starts_on_a_video_tick_of_the_shared_clock() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    epoch = playout.start_clock()
    clock.now += 0.013  # between two video ticks
    playout.push_frame(media_frame(0))
    # Its picture and its first 20 ms of sound are both due on the same (video) tick.
    due = playout._video[0].due
    assert playout._audio[0].due == due
    ticks = (due - epoch) / 0.04
    assert abs(ticks - round(ticks)) < 1e-6


@pytest.mark.parametrize("offset_ms", range(0, 40, 3))
def test_a_turn_starts_on_the_first_video_tick_not_yet_picked(offset_ms: int) -> None:
    # The video track picks each tick's frame ENCODE_LEAD_S before the tick: a turn's first
    # frame must be due on a tick not yet picked (else it shows a tick late), and on the
    # earliest such tick, give or take a few ms of margin (else every answer starts later).
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    epoch = playout.start_clock()
    clock.now = epoch + 0.4 + offset_ms / 1000
    playout.push_frame(media_frame(0))
    due = playout._video[0].due
    assert due - ENCODE_LEAD_S > clock.now
    assert due - 0.04 - ENCODE_LEAD_S <= clock.now + 0.01


def test_a_turns_sound_waits_for_its_first_picture_and_the_turn_shifts_with_it() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    assert playout.next_video(clock.now) is None  # a video track plays this peer
    for i in range(5):
        playout.push_frame(media_frame(i, luma=100 + i))
    clock.now += 0.1  # the first frame is due; the video track is starved and late
    assert playout.next_audio(clock.now) is None  # the sound does not start without it
    clock.now += 0.3
    assert _luma(playout.next_video(clock.now)) == 100  # the first frame, not a later one
    assert playout.next_audio(clock.now) is not None  # the sound starts with it...
    assert playout.stats.stale_audio_dropped == 0  # ...from its beginning
    clock.now += 0.04
    assert _luma(playout.next_video(clock.now)) == 101  # and the turn goes on from there
    assert playout.next_audio(clock.now) is not None


def test_without_a_video_track_the_sound_plays_on_time() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.push_frame(media_frame(0))
    clock.now += 0.06
    assert playout.next_audio(clock.now) is not None


def _play(playout: MediaPlayout, clock: FakeClock, seconds: float) -> list[int]:
    """Both tracks tick for ``seconds`` (audio every 20 ms, video every 40); lumas shown."""
    shown = []
    for tick in range(round(seconds / AUDIO_PTIME_S)):
        clock.now += AUDIO_PTIME_S
        if tick % 2:  # the video track picks a tick's frame ahead of it (ENCODE_LEAD_S)
            shown.append(_luma(playout.next_video(clock.now)))
        playout.next_audio(clock.now)
    return shown


def test_media_running_out_mid_turn_holds_the_picture_until_more_comes() -> None:
    # A late chunk from the gateway (a busy machine): the tutor goes on speaking with its last
    # picture, no idle-loop flash, no "listening" for the page; then the rest plays.
    clock = FakeClock()
    states: list[str] = []
    playout = MediaPlayout(fps=25, clock=clock, on_playback=states.append)
    playout.push_frame(media_frame(0, luma=200))
    shown = _play(playout, clock, 0.4)
    assert 200 in shown and shown[-1] == 200  # held, not the idle loop (10)
    assert states == ["speaking"]
    playout.push_frame(media_frame(12, luma=230))
    assert _play(playout, clock, 0.16)[-1] == 230 and states == ["speaking"]
    playout.end_of_turn("turn-1")
    assert _play(playout, clock, 0.08)[-1] == 10
    assert states == ["speaking", "listening"]


def test_a_turn_whose_media_stop_for_good_goes_back_to_the_idle_loop() -> None:
    clock = FakeClock()
    states: list[str] = []
    playout = MediaPlayout(fps=25, clock=clock, on_playback=states.append)
    playout.push_frame(media_frame(0, luma=200))
    assert _play(playout, clock, UNDERRUN_HOLD_S - 0.2)[-1] == 200
    assert _play(playout, clock, 0.4)[-1] == 10
    assert states == ["speaking", "listening"]


def test_an_interrupted_turn_goes_back_to_the_idle_loop_at_once() -> None:
    clock = FakeClock()
    states: list[str] = []
    playout = MediaPlayout(fps=25, clock=clock, on_playback=states.append)
    for i in range(3):
        playout.push_frame(media_frame(i, luma=200))
    _play(playout, clock, 0.12)
    playout.drop_turn("turn-1")
    assert _play(playout, clock, 0.04) == [10]
    assert states == ["speaking", "listening"]


def test_a_turn_after_a_pause_plays_its_burst_of_frames_without_a_freeze() -> None:
    """The next turn's first frames, arriving together seconds after the last turn, play one
    per tick (they froze for the whole pause when the pause was counted as a pts gap)."""
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.start_clock()
    shown: list[float] = []

    def play_until(until: float) -> None:
        while clock.now < until:
            played = playout.stats.video_frames_played
            playout.next_video(clock.now)
            playout.next_audio(clock.now)
            playout.next_audio(clock.now + AUDIO_PTIME_S)
            if playout.stats.video_frames_played > played:
                shown.append(round(clock.now, 2))
            clock.now = round(clock.now + 0.04, 4)

    for i in range(4):
        playout.push_frame(media_frame(i, turn_id="t1"))
    playout.end_of_turn("t1")
    play_until(105.0)
    shown.clear()
    for i in range(4):
        playout.push_frame(media_frame(i, turn_id="t2"))
    play_until(106.0)
    assert len(shown) == 4
    assert shown[-1] - shown[0] == pytest.approx(0.12)  # four frames on four ticks in a row
    assert shown[0] <= 105.0 + 0.1  # the first on a tick soon after it came


def _tagged_frame(index: int) -> TutorFrame:
    """Frame ``index``: a picture of brightness 20 + index and 40 ms of audio whose every
    sample is index + 1, so what plays tells which frame it came from."""
    pcm = np.full(1920, index + 1, dtype="<i2").tobytes()
    return TutorFrame(
        turn_id="turn-1",
        image=flat_image(16, 20 + index),
        pts_us=index * 40_000,
        audio=TutorAudio(turn_id="turn-1", pcm=pcm, sample_rate_hz=48000, pts_us=index * 40_000),
    )


def test_late_chunks_never_move_a_turns_sound_against_its_picture() -> None:
    # The gateway hands a turn over in chunks of 5 frames (200 ms); on a busy machine some
    # come late: the third and the sixth after the turn's media had run out (the picture
    # holds, the sound pauses) and the rest of the turn plays that much later. Whatever the
    # arrivals, each frame's picture and its first 20 ms of sound leave on the same tick,
    # and its second 20 ms on the next.
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    epoch = playout.start_clock()
    playout.next_video(epoch)  # a video track plays this peer
    arrivals = [0.0, 0.1, 0.65, 0.7, 0.9, 1.35, 1.4, 1.6]  # s after the epoch, per chunk
    pending = [(epoch + at, range(5 * k, 5 * k + 5)) for k, at in enumerate(arrivals)]
    pictures: dict[int, int] = {}  # tick -> frame shown (a new one)
    sounds: dict[int, int] = {}  # tick -> frame whose audio played
    last_shown = None
    for tick in range(1, 200):
        now = epoch + tick * AUDIO_PTIME_S
        while pending and pending[0][0] <= now:
            clock.now, frames = pending.pop(0)
            for index in frames:
                playout.push_frame(_tagged_frame(index))
        clock.now = now
        if tick % 2 == 0:  # the video track picks its frame ahead of the tick (ENCODE_LEAD_S)
            image = playout.next_video(now)
            shown = None if image is None else int(image.data[0, 0]) - 20
            if shown is not None and shown != last_shown:
                pictures[tick] = shown
            last_shown = shown
        pcm = playout.next_audio(now)
        if pcm is not None:
            sounds[tick] = int(np.frombuffer(pcm, dtype="<i2")[0]) - 1
    assert sorted(pictures.values()) == list(range(40))  # every frame shown, in order
    assert sorted(sounds.values()) == sorted(list(range(40)) * 2)  # every 20 ms played
    for tick, frame in pictures.items():
        assert sounds.get(tick) == frame, (tick, frame, sounds.get(tick))
        assert sounds.get(tick + 1) == frame, (tick, frame, sounds.get(tick + 1))
    assert playout.stats.stale_audio_dropped == 0
    starts = sorted(pictures)
    pauses = [b - a for a, b in itertools.pairwise(starts) if b - a > 2]
    assert len(pauses) == 2  # the two late chunks: the turn waited for each


@pytest.mark.parametrize("lag_ms", [30, 70, 130, 250])
def test_a_turn_starts_on_a_tick_whose_sound_is_not_sent_yet_when_the_video_lags(
    lag_ms: int,
) -> None:
    # On a busy edge the video track falls behind (a slow encode, a starved loop) and then
    # catches up on the ticks it missed, each sent with its own RTP time, while the audio track
    # kept time, sending silence. The turn's first picture must not go on a tick whose sound
    # has gone already: its sound would follow on later RTP times than its picture, and a
    # browser, which places both by RTP time (sender reports), would play the whole answer
    # out of step although both arrived together.
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    epoch = playout.start_clock()
    playout.next_video(epoch)  # a video track plays this peer
    arrive_at = epoch + 0.2  # the turn's media
    first_due = playout._on_video_tick(arrive_at + 0.035)  # about: the video stalls from here
    back_at = first_due + lag_ms / 1000  # the video track runs again, late until caught up
    events = []  # (wall time, order, track, tick)
    for n in range(1, 60):
        events.append((epoch + n * AUDIO_PTIME_S, 1, "audio", epoch + n * AUDIO_PTIME_S))
    for k in range(1, 30):
        tick = epoch + k * 0.04
        picked = tick - ENCODE_LEAD_S  # when the video track picks the tick's frame
        stalled = arrive_at <= picked < back_at
        events.append((back_at if stalled else picked, 0, "video", tick))
    events.append((arrive_at, -1, "gateway", arrive_at))
    pictures: dict[int, int] = {}  # ms after the epoch -> frame first shown there
    sounds: dict[int, int] = {}  # ms after the epoch -> frame whose sound played there
    last_shown = None
    for wall, _, track, tick in sorted(events):
        clock.now = wall
        at = round((tick - epoch) * 1000)
        if track == "gateway":
            for index in range(10):
                playout.push_frame(_tagged_frame(index))
        elif track == "video":
            image = playout.next_video(tick)
            shown = None if image is None else int(image.data[0, 0]) - 20
            if shown is not None and shown != last_shown:
                pictures[at] = shown
            last_shown = shown
        elif (pcm := playout.next_audio(tick)) is not None:
            sounds[at] = int(np.frombuffer(pcm, dtype="<i2")[0]) - 1
    assert sorted(pictures.values()) == list(range(10))
    for at, frame in pictures.items():
        assert sounds.get(at) == frame, (at, frame, sounds)
        assert sounds.get(at + 20) == frame, (at, frame, sounds)
    assert playout.stats.stale_audio_dropped == 0


def test_a_new_turn_stops_what_still_plays_of_an_ended_one() -> None:
    # The first answer was all sent (its turn ended at the gateway) but plays here for seconds
    # more; the student asks again over it: the rest of it goes, and the new answer starts on
    # its own, its sound waiting for its first picture.
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    playout.next_video(clock.now)
    for i in range(50):
        playout.push_frame(media_frame(i, luma=100, turn_id="first"))
    playout.end_of_turn("first")
    _play(playout, clock, 0.4)
    assert playout.drop_other_turns("second") == playout.stats.dropped_on_interrupt > 0
    assert playout.queued_video == playout.queued_audio == 0
    for i in range(5):
        playout.push_frame(media_frame(i, luma=150, turn_id="second", pts_offset_us=4_000_000))
    playout.push_frame(media_frame(50, luma=100, turn_id="first"))  # late: refused
    shown = _play(playout, clock, 0.4)
    assert 150 in shown and 100 not in shown


def test_a_new_turn_keeps_its_own_media() -> None:
    clock = FakeClock()
    playout = MediaPlayout(fps=25, clock=clock)
    for i in range(3):
        playout.push_frame(media_frame(i, turn_id="second"))
    assert playout.drop_other_turns("second") == 0
    assert playout.queued_video == 3
