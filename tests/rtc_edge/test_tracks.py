"""The outgoing tracks pace frames in real time and stamp them on a continuous timeline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from rtc_edge.playout import MediaPlayout
from rtc_edge.tracks import PlayoutAudioTrack, PlayoutVideoTrack
from tests.rtc_edge.synthetic_media import media_frame

pytestmark = pytest.mark.unit


async def test_video_track_plays_turn_frames_then_idle() -> None:
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout)
    for i in range(3):
        playout.push_media_frame(media_frame(i, luma=220, size=32))
    frames = [await track.recv() for _ in range(8)]
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and len(set(pts)) == 8
    assert all(b - a >= 3600 for a, b in itertools.pairwise(pts))  # 90 kHz / 25 fps
    lumas = [int(f.to_ndarray(format="yuv420p")[:32].mean()) for f in frames]
    assert lumas.count(220) >= 2  # turn frames (a stall may skip one) ...
    assert lumas[-1] == 40  # ... then the still frame while idle


async def test_audio_track_sends_20ms_mono_48k() -> None:
    playout = MediaPlayout(fps=25)
    track = PlayoutAudioTrack(playout)
    playout.push_media_frame(media_frame(0, amplitude=0.5))
    frames = [await track.recv() for _ in range(6)]
    assert all(f.samples == 960 and f.sample_rate == 48000 for f in frames)
    assert all(f.layout.name == "mono" for f in frames)
    loud = [f for f in frames if np.abs(f.to_ndarray()).max() > 10000]
    assert len(loud) == 2  # the 40 ms of the frame's audio, no more


async def test_stopped_track_ends() -> None:
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout)
    await track.recv()
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
