"""The light student's RTP reading: key frames from the payload, presentation times from
sender reports, sound told from the edge's shared silence."""

from __future__ import annotations

import av
import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from loadtest.rtp_probe import RtpAudio, SenderClock, _h264_keyframe, _vp8_keyframe
from rtc_edge.tracks import opus_silence
from rtc_edge.video_encoding import EncoderSettings, VideoEncoder
from tests.rtc_edge.synthetic_media import flat_image

pytestmark = pytest.mark.unit


def payloads(codec: str, data: bytes) -> list[bytes]:
    """The RTP payloads aiortc's sender makes of one encoded frame."""

    packet = av.Packet(data)
    packet.pts = 0
    packet.time_base = __import__("fractions").Fraction(1, 90000)
    params = RTCRtpCodecParameters(
        mimeType=f"video/{codec.upper()}", clockRate=90000, payloadType=96
    )
    encoder = get_encoder(params)
    return encoder.pack(packet)[0]


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_key_frames_are_told_from_the_first_rtp_payload(codec: str) -> None:
    encoder = VideoEncoder(EncoderSettings(codec=codec), 64, 64)  # type: ignore[arg-type]
    key = encoder.encode(flat_image(64, 30), keyframe=True)
    delta = encoder.encode(flat_image(64, 31))
    is_key = _h264_keyframe if codec == "h264" else _vp8_keyframe
    assert is_key(payloads(codec, key.data)[0])
    assert not is_key(payloads(codec, delta.data)[0])


def test_presentation_time_from_the_nearest_sender_report_across_the_wrap() -> None:
    clock = SenderClock(90000, reports=[(2**32 - 9000, 100.0)])
    assert clock.presentation_s(2**32 - 9000 + 90000 - 2**32) == pytest.approx(101.0)
    assert SenderClock(48000).presentation_s(0) is None
    # More reports: the median prediction, so one stamped by a late packet does not count.
    clock.reports += [(36000, 100.5), (126000, 101.5), (216000, 102.8)]  # the last one late
    assert clock.presentation_s(45000) == pytest.approx(100.6)
    assert clock.presentation_s(216000) == pytest.approx(102.5)


def test_the_answers_sound_is_told_from_the_shared_silence() -> None:
    assert not RtpAudio(0.0, 0, None, size=len(opus_silence())).sounding
    assert RtpAudio(0.0, 0, None, size=80).sounding
    assert RtpAudio(0.0, 0, 40).sounding and not RtpAudio(0.0, 0, 127).sounding
