"""The outgoing tracks: paced on one clock, encoded packets, shared idle loop, clean switches."""

from __future__ import annotations

import asyncio
import itertools
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from rtc_edge.idle_loop import encode_loop
from rtc_edge.playout import MediaPlayout
from rtc_edge.tracks import (
    DTX_HANGOVER_TICKS,
    DTX_INTERVAL_TICKS,
    PlayoutAudioTrack,
    PlayoutVideoTrack,
    opus_dtx,
    opus_silence,
    shared_epoch,
)
from rtc_edge.video_encoding import (
    EncoderClosed,
    EncoderSettings,
    EncoderUnavailable,
    VideoCodecName,
    VideoEncoder,
)
from tests.rtc_edge.synthetic_media import flat_image, media_frame

pytestmark = pytest.mark.unit

DECODERS = {"h264": "h264", "vp8": "libvpx"}


def decoded_lumas(codec: VideoCodecName, packets: list[av.Packet]) -> list[int]:
    """Decodes the packets in order, as a receiver would; the brightness of each picture."""
    decoder = av.CodecContext.create(DECODERS[codec], "r")
    assert isinstance(decoder, av.VideoCodecContext)
    lumas = []
    for packet in packets:
        for frame in decoder.decode(av.Packet(bytes(packet))):
            lumas.append(round(frame.to_ndarray(format="yuv420p")[: frame.height].mean()))
    return lumas


@pytest.mark.parametrize("codec", ["h264", "vp8"])
async def test_idle_turn_idle_switches_at_key_frames_and_decode(codec: VideoCodecName) -> None:
    settings = EncoderSettings(codec=codec, keyframe_interval=5)
    loop = encode_loop([flat_image(32, 20 + 10 * i) for i in range(10)], settings)
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, settings, fallback_size=(32, 32))
    track.show_idle_loop(loop)
    packets = [await track.recv() for _ in range(7)]  # idle frames 0-6
    for i in range(4):
        playout.push_frame(media_frame(i, luma=230, size=32))
    playout.end_of_turn("turn-1")  # the gateway's turn ended
    while track.stats.turn_frames_encoded < 4 or playout.queued_video:
        packets.append(await track.recv())
    packets += [await track.recv() for _ in range(6)]  # idle again

    pts = [int(p.pts or 0) for p in packets]
    assert all(b - a >= 3600 for a, b in itertools.pairwise(pts))  # 90 kHz at 25 fps
    lumas = decoded_lumas(codec, packets)
    assert len(lumas) == len(packets)  # every packet decoded into a picture
    assert lumas[:7] == [20, 30, 40, 50, 60, 70, 80]
    turn = [i for i, luma in enumerate(lumas) if luma == 230]
    assert len(turn) >= 4 and packets[turn[0]].is_keyframe
    after = lumas[turn[-1] + 1 :]
    # Back on the shared loop at its next key frame (index 10 wraps to 0: luma 20).
    assert after[:3] == [20, 30, 40] and packets[turn[-1] + 1].is_keyframe
    assert track.stats.turn_encoders_opened == 1
    assert track.stats.idle_packets == len(packets) - len(turn)


async def test_two_tracks_send_the_same_idle_packets() -> None:
    settings = EncoderSettings(codec="h264", keyframe_interval=5)
    loop = encode_loop([flat_image(32, 50 + i) for i in range(5)], settings)
    sent = []
    for _ in range(2):
        track = PlayoutVideoTrack(MediaPlayout(fps=25), settings, fallback_size=(32, 32))
        track.show_idle_loop(loop)
        sent.append([bytes(await track.recv()) for _ in range(5)])
        assert track.stats.turn_frames_encoded == 0  # nothing encoded per peer
    assert sent[0] == sent[1] == [frame.data for frame in loop.frames]


async def test_the_still_frame_shows_until_the_loop_is_known() -> None:
    settings = EncoderSettings(codec="vp8", keyframe_interval=5)
    track = PlayoutVideoTrack(MediaPlayout(fps=25), settings, fallback_size=(32, 32))
    packets = [await track.recv() for _ in range(3)]
    track.show_idle_loop(encode_loop([flat_image(32, 90)] * 5, settings))
    packets.append(await track.recv())
    assert decoded_lumas("vp8", packets) == [40, 40, 40, 90]
    assert packets[3].is_keyframe


async def test_audio_track_encodes_turn_audio_on_its_timeline_and_shares_silence() -> None:
    playout = MediaPlayout(fps=25)
    track = PlayoutAudioTrack(playout)
    playout.push_frame(media_frame(0, amplitude=0.5))
    sent = [await track.recv() for _ in range(8)]
    packets = [s for s in sent if isinstance(s, av.Packet)]
    assert len(packets) == len(sent)
    data = [bytes(p) for p in packets]
    silent = [d for d in data if d == opus_silence()]
    assert len(silent) == 6  # one shared packet of silence, the turn's two frames encoded
    # One timeline: each packet starts where the one before ended, no jump at the turn.
    pts = [int(p.pts or 0) for p in packets]
    assert all(b - a == 960 for a, b in itertools.pairwise(pts))
    decoder = av.CodecContext.create("opus", "r")
    assert isinstance(decoder, av.AudioCodecContext)
    peaks = []
    for packet in data:
        frames = decoder.decode(av.Packet(packet))
        peaks.append(max(float(np.abs(f.to_ndarray()).max()) for f in frames) if frames else 0.0)
    # The 40 ms of the frame's audio (its tail in a third packet: the codec's look-ahead).
    assert 2 <= sum(peak > 0.15 for peak in peaks) <= 3
    assert peaks[0] == 0


async def test_stopped_track_ends() -> None:
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, EncoderSettings(), fallback_size=(32, 32))
    await track.recv()
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_a_track_stopped_during_a_turn_ends_its_stream_cleanly() -> None:
    # stop() closes the turn encoder; a turn frame encoded after that ends the sender's
    # stream (MediaStreamError), not an AttributeError in the encoder.
    settings = EncoderSettings(codec="h264")
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, settings, fallback_size=(32, 32))
    playout.push_frame(media_frame(0, luma=200, size=32, turn_id="turn-1"))
    encoder = VideoEncoder(settings, 32, 32)
    encoder.close()
    with pytest.raises(EncoderClosed):
        encoder.encode(flat_image(32, 100))
    track._encoder = encoder  # closed, as stop() leaves it for an encode in flight
    with pytest.raises(MediaStreamError):
        for _ in range(25):  # the turn's frame is due within a few ticks
            await track.recv()


async def test_nvenc_that_cannot_open_falls_back_to_libx264(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hardware = EncoderSettings(codec="h264", keyframe_interval=5, hardware=True)
    try:
        VideoEncoder(hardware, 32, 32).close()
        pytest.skip("NVENC opens here")
    except EncoderUnavailable:
        pass
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, hardware, fallback_size=(32, 32))
    track.show_idle_loop(encode_loop([flat_image(32, 60)] * 5, hardware.software))
    packets = [await track.recv() for _ in range(2)]
    for i in range(3):
        playout.push_frame(media_frame(i, luma=210, size=32))
    while track.stats.turn_frames_encoded < 3:
        packets.append(await track.recv())
    assert decoded_lumas("h264", packets)[:2] == [60, 60]  # the idle loop, in software
    assert 210 in decoded_lumas("h264", packets)
    assert not track.settings.hardware and "NVENC" in caplog.text


async def test_the_track_says_which_idle_frame_is_on_screen() -> None:
    settings = EncoderSettings(codec="h264", keyframe_interval=5)
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, settings, fallback_size=(32, 32))
    await track.recv()
    assert track.idle_position is None  # the still frame: no loop yet
    track.show_idle_loop(encode_loop([flat_image(32, 20 + i) for i in range(6)], settings))
    for shown in range(8):
        await track.recv()
        assert track.idle_position == shown % 6
    playout.push_frame(media_frame(0, luma=230, size=32))
    for _ in range(10):  # the turn's encoder opens off the loop, then its frame shows
        await track.recv()
        if track.stats.turn_frames_encoded:
            break
    assert track.stats.turn_frames_encoded == 1
    assert track.idle_position is None  # a turn plays


async def test_tracks_record_when_a_turns_picture_and_sound_began() -> None:
    """The sender's onsets that the browser test compares with what Chromium presented."""
    settings = EncoderSettings(codec="h264", keyframe_interval=5)
    playout = MediaPlayout(fps=25)
    video = PlayoutVideoTrack(playout, settings, fallback_size=(32, 32))
    audio = PlayoutAudioTrack(playout)

    async def play(track: PlayoutVideoTrack | PlayoutAudioTrack, ticks: int) -> list[int]:
        return [int((await track.recv()).pts or 0) for _ in range(ticks)]

    await asyncio.gather(play(video, 2), play(audio, 4))  # idle: nothing began
    assert not video.turn_onsets and not audio.sound_onsets
    # A turn whose first 40 ms are silent (as a TTS voice often starts), then a tone.
    for i in range(4):
        playout.push_frame(media_frame(i, size=32, amplitude=0.0 if i == 0 else 0.3))
    await asyncio.gather(play(video, 12), play(audio, 24))

    assert len(video.turn_onsets) == 1 and len(audio.sound_onsets) == 1
    picture, sound = video.turn_onsets[0], audio.sound_onsets[0]
    # The sound is heard one frame (40 ms) into the turn, on both clocks the tracks keep.
    assert sound.at - picture.at == pytest.approx(0.040, abs=0.001)
    assert sound.pts / 48000 - picture.pts / 90000 == pytest.approx(0.040, abs=0.001)
    assert abs(picture.at - time.time()) < 2  # on the wall clock a browser can be compared to

    # The next turn, after silence, is a new onset for both.
    for i in range(2):
        playout.push_frame(media_frame(i, size=32, turn_id="turn-2"))
    await asyncio.gather(play(video, 8), play(audio, 16))
    assert len(video.turn_onsets) == 2 and len(audio.sound_onsets) == 2
    assert audio.sound_onsets[1].at - video.turn_onsets[1].at == pytest.approx(0, abs=0.001)


async def test_between_turns_the_audio_goes_quiet_with_opus_dtx() -> None:
    """After a hangover of silence packets, one 1-byte DTX packet every 400 ms; a turn's sound
    starts on its own tick, and the RTP clock never stops counting 20 ms ticks."""
    playout = MediaPlayout(fps=25)
    track = PlayoutAudioTrack(playout)
    sent = [await track.recv() for _ in range(DTX_HANGOVER_TICKS + 2)]
    packets = [p for p in sent if isinstance(p, av.Packet)]
    assert len(packets) == len(sent)
    data = [bytes(p) for p in packets]
    assert data[:DTX_HANGOVER_TICKS] == [opus_silence()] * DTX_HANGOVER_TICKS
    assert data[DTX_HANGOVER_TICKS:] == [opus_dtx()] * 2 and len(opus_dtx()) == 1
    pts = [int(p.pts or 0) for p in packets]
    assert all(b - a == 960 for a, b in itertools.pairwise(pts[: DTX_HANGOVER_TICKS + 1]))
    assert pts[-1] - pts[-2] == 960 * DTX_INTERVAL_TICKS  # the ticks between send nothing
    assert track.dtx_packets == 2

    playout.push_frame(media_frame(0, amplitude=0.5))
    sound = await track.recv()
    assert isinstance(sound, av.Packet) and len(bytes(sound)) > 8  # the turn, encoded
    assert int(sound.pts or 0) > pts[-1] and (int(sound.pts or 0) - pts[-1]) % 960 == 0
    after = [await track.recv() for _ in range(3)]
    assert (
        isinstance(after[-1], av.Packet) and bytes(after[-1]) == opus_silence()
    )  # the hangover again, not DTX at once
    decoder = av.CodecContext.create("opus", "r")
    assert isinstance(decoder, av.AudioCodecContext)
    assert decoder.decode(av.Packet(opus_dtx())) is not None  # a decoder takes it


async def test_without_dtx_silence_is_sent_every_20_ms() -> None:
    track = PlayoutAudioTrack(MediaPlayout(fps=25), dtx=False)
    packets = [await track.recv() for _ in range(DTX_HANGOVER_TICKS + 3)]
    assert [bytes(p) for p in packets if isinstance(p, av.Packet)] == [opus_silence()] * len(
        packets
    )


async def test_every_peer_ticks_on_the_same_instants() -> None:
    """Media clocks start on whole seconds, so two peers' ticks coincide (one loop wake-up)."""
    first, second = MediaPlayout(fps=25), MediaPlayout(fps=25)
    a, b = PlayoutAudioTrack(first), PlayoutAudioTrack(second)
    await a.recv()
    await asyncio.sleep(0.013)  # the second peer joins a little later
    await b.recv()
    # Whole seconds (the same one unless the two straddle a second): 20 ms and 40 ms periods
    # from either land on the same instants.
    assert first.epoch is not None and second.epoch is not None
    assert first.epoch % 1 == 0 and second.epoch % 1 == 0
    assert shared_epoch(12.999) == 12.0


async def test_the_turn_encoder_opens_ahead_and_serves_every_turn_from_a_key_frame() -> None:
    """Opened when the idle loop is known (warmed with one picture), kept between turns: each
    turn still starts with its own key frame, and the stream decodes throughout."""
    settings = EncoderSettings(codec="h264", keyframe_interval=5)
    loop = encode_loop([flat_image(32, 20 + 10 * i) for i in range(10)], settings)
    playout = MediaPlayout(fps=25)
    track = PlayoutVideoTrack(playout, settings, fallback_size=(32, 32))
    track.show_idle_loop(loop)
    packets = [await track.recv() for _ in range(3)]
    assert track.stats.turn_encoders_opened == 1  # before any turn
    for turn, luma in (("turn-1", 230), ("turn-2", 200)):
        for i in range(3):
            playout.push_frame(media_frame(i, luma=luma, size=32, turn_id=turn))
        playout.end_of_turn(turn)
        encoded = track.stats.turn_frames_encoded
        while track.stats.turn_frames_encoded < encoded + 3 or playout.queued_video:
            packets.append(await track.recv())
        packets += [await track.recv() for _ in range(6)]  # back on the idle loop
    assert track.stats.turn_encoders_opened == 1
    lumas = decoded_lumas("h264", packets)
    assert len(lumas) == len(packets)
    for luma in (230, 200):
        first = lumas.index(luma)
        assert packets[first].is_keyframe and lumas.count(luma) >= 3
    track.stop()
