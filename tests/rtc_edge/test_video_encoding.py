"""The edge's encoders: key frames on request that start a decodable stream, bad sizes refused,
NVENC where a GPU is present (and a clear error where it is not)."""

from __future__ import annotations

import av
import pytest

from rtc_edge.idle_loop import encode_loop
from rtc_edge.video_encoding import (
    EncoderSettings,
    EncoderUnavailable,
    VideoCodecName,
    VideoEncoder,
)
from tests.rtc_edge.synthetic_media import flat_image

pytestmark = pytest.mark.unit
DECODERS = {"h264": "h264", "vp8": "libvpx"}


def decode(codec: VideoCodecName, frames: list[bytes]) -> list[int]:
    decoder = av.CodecContext.create(DECODERS[codec], "r")
    assert isinstance(decoder, av.VideoCodecContext)
    out = []
    for data in frames:
        for frame in decoder.decode(av.Packet(data)):
            out.append(round(frame.to_ndarray(format="yuv420p")[: frame.height].mean()))
    return out


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_a_forced_key_frame_starts_a_stream_a_fresh_decoder_can_join(codec: VideoCodecName) -> None:
    encoder = VideoEncoder(EncoderSettings(codec=codec, keyframe_interval=100), 32, 32)
    frames = [encoder.encode(flat_image(32, 50 + 10 * i), keyframe=i == 4) for i in range(8)]
    assert [f.keyframe for f in frames] == [True, False, False, False, True, False, False, False]
    # A decoder that joins at the forced key frame decodes everything from there.
    assert decode(codec, [f.data for f in frames[4:]]) == [90, 100, 110, 120]


def test_h264_is_constrained_baseline_with_its_parameter_sets_at_each_key_frame() -> None:
    encoder = VideoEncoder(EncoderSettings(codec="h264", keyframe_interval=3), 32, 32)
    frames = [encoder.encode(flat_image(32, 80)) for _ in range(4)]
    for frame in (frames[0], frames[3]):
        sps = frame.data.index(b"\x00\x00\x01\x67") + 4  # SPS NAL unit
        profile, constraints = frame.data[sps], frame.data[sps + 1]
        assert profile == 66 and constraints & 0x40  # baseline, constraint_set1: constrained
    assert not frames[1].keyframe and b"\x00\x00\x01\x67" not in frames[1].data


def test_loop_key_frames_and_where_a_peer_rejoins() -> None:
    loop = encode_loop(
        [flat_image(32, 10 * i) for i in range(10)], EncoderSettings(keyframe_interval=4)
    )
    assert [i for i, f in enumerate(loop.frames) if f.keyframe] == [0, 4, 8]
    assert loop.keyframe_from(1) == 4 and loop.keyframe_from(8) == 8 and loop.keyframe_from(9) == 0


@pytest.mark.parametrize("size", [(31, 32), (32, 8)])
def test_odd_or_tiny_sizes_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoEncoder(EncoderSettings(), *size)


def _nvenc_opens() -> bool:
    try:
        VideoEncoder(EncoderSettings(hardware=True), 64, 64).close()
    except EncoderUnavailable:
        return False
    return True


@pytest.mark.gpu
def test_nvenc_encodes_h264_a_software_decoder_reads() -> None:
    if not _nvenc_opens():
        pytest.skip("NVENC cannot be opened here (no NVIDIA GPU or driver)")
    encoder = VideoEncoder(EncoderSettings(codec="h264", hardware=True), 64, 64)
    frames = [encoder.encode(flat_image(64, 120), keyframe=i == 0) for i in range(5)]
    assert frames[0].keyframe
    assert decode("h264", [f.data for f in frames]) == [120] * 5


def test_nvenc_without_a_gpu_says_what_it_needs() -> None:
    if _nvenc_opens():
        pytest.skip("a GPU is present")
    with pytest.raises(EncoderUnavailable, match="NVENC needs an NVIDIA GPU"):
        VideoEncoder(EncoderSettings(hardware=True), 64, 64)
