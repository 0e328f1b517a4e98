"""The browser test's A/V arithmetic on a made-up page record: which frame and which audio
packet are a turn's start, and how the sender's own gap (a voice's leading silence) is kept
out of the offset."""

from __future__ import annotations

from typing import Any

import pytest

from rtc_edge.tracks import Onset
from tests.rtc_edge.browser import av_offsets_during, av_onsets

pytestmark = pytest.mark.unit

ORIGIN_MS = 1_000_000.0  # performance.timeOrigin: the page clock starts at this wall time
RTP = {"video": 4_294_960_000, "audio": 123_456}  # aiortc's random origins (video wraps)
EPOCH_WALL = 1_000.5  # the tracks' first tick, wall clock seconds (page time 500 ms)


def page_record(video_delay_ms: float, audio_delay_ms: float) -> tuple[dict[str, Any], Any]:
    """Frames shown ``video_delay_ms`` and audio played ``audio_delay_ms`` after their ticks,
    with a turn starting at tick 50 (2 s) whose voice starts 60 ms in."""
    frames, played = [], []
    for tick in range(100):  # 4 s of video at 25 fps
        sent = 500 + tick * 40
        frames.append(
            {
                "now": sent + video_delay_ms,
                "shown": sent + video_delay_ms,
                "received": sent + 5,
                "rtp": (RTP["video"] + tick * 3600) % 2**32,
            }
        )
    for tick in range(200):  # 4 s of 20 ms audio packets
        sent = 500 + tick * 20
        played.append({"rtp": RTP["audio"] + tick * 960, "at": sent + audio_delay_ms - 30})
    stats = [
        {"at": at, "playout": {"delay": at * 48 * 0.030, "samples": at * 48}}  # 30 ms each
        for at in (0, 5000)
    ]
    probe = {
        "timeOrigin": ORIGIN_MS,
        "frames": frames,
        "played": played,
        "sound": [{"at": 2560 + audio_delay_ms}],
        "stats": stats,
        "playback": [{"state": "speaking", "at": 2510}, {"state": "listening", "at": 4400}],
    }
    picture = Onset(at=EPOCH_WALL + 2.0, pts=50 * 3600)
    sound = Onset(at=EPOCH_WALL + 2.06, pts=100 * 960 + 2880)
    return probe, (picture, sound)


@pytest.mark.parametrize(("video_ms", "audio_ms"), [(120, 120), (40, 160), (200, 150)])
def test_the_offset_is_each_streams_delay_apart_less_the_senders_gap(
    video_ms: float, audio_ms: float
) -> None:
    probe, (picture, sound) = page_record(video_ms, audio_ms)
    (onset,) = av_onsets(probe, [picture], [sound], RTP)
    assert onset.sender_gap_ms == pytest.approx(60)
    assert onset.video_delay_ms == pytest.approx(video_ms)
    assert onset.audio_delay_ms == pytest.approx(audio_ms, abs=0.5)  # played + device
    assert onset.offset_ms == pytest.approx(audio_ms - video_ms, abs=0.5)
    assert onset.web_audio_delay_ms == pytest.approx(audio_ms)

    during = av_offsets_during(probe, [picture], [sound], RTP)
    assert len(during) == 2  # 3.0-4.0 s: the answer from half a second in, in half seconds
    assert during == pytest.approx([audio_ms - video_ms] * 2, abs=0.5)


def test_a_turn_the_page_has_not_shown_is_left_out() -> None:
    probe, (picture, sound) = page_record(100, 100)
    later = Onset(at=EPOCH_WALL + 9.0, pts=225 * 3600)
    later_sound = Onset(at=EPOCH_WALL + 9.0, pts=450 * 960)
    assert len(av_onsets(probe, [picture, later], [sound, later_sound], RTP)) == 1
    assert av_onsets(probe, [picture], [sound], {}) == []  # origins unknown: nothing to match


def test_a_first_frame_the_page_did_not_see_is_stood_for_by_the_next_with_its_own_delay() -> None:
    # A busy page runs requestVideoFrameCallback for some frames only: here not for the turn's
    # first two. The next frame's delay stands for theirs (not its display time less the
    # first frame's send time, which would count it 80 ms late).
    probe, (picture, sound) = page_record(120, 150)
    first = (RTP["video"] + picture.pts) % 2**32
    probe["frames"] = [f for f in probe["frames"] if (f["rtp"] - first) % 2**32 not in (0, 3600)]
    (onset,) = av_onsets(probe, [picture], [sound], RTP)
    assert onset.unseen_frames == 2
    assert onset.video_delay_ms == pytest.approx(120)
    assert onset.offset_ms == pytest.approx(30, abs=0.5)
