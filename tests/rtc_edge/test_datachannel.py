"""The data channel's JSON (conversation events out, text and interrupt in), and the gateway
link's conversion of Converse responses into those events."""

from __future__ import annotations

import pytest
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2

from rtc_edge.converse_events import TurnEvent, TutorAudio, TutorFrame
from rtc_edge.datachannel import MAX_TEXT_CHARS, client_message, page_message
from rtc_edge.gateway_link import converse_event
from tests.rtc_edge.synthetic_media import media_frame_proto

pytestmark = pytest.mark.unit


def to_page(response: gateway_pb2.ConverseResponse) -> object:
    event = converse_event(response)
    assert event is not None
    return page_message(event)


def test_events_to_page() -> None:
    transcript = gateway_pb2.ConverseResponse(
        transcript=gateway_pb2.Transcript(text="two plus two", is_final=True, turn_id="t1")
    )
    assert to_page(transcript) == {
        "type": "transcript",
        "text": "two plus two",
        "final": True,
        "turn_id": "t1",
    }
    delta = gateway_pb2.ConverseResponse(
        assistant_text=gateway_pb2.AssistantText(turn_id="t1", delta="Four")
    )
    assert to_page(delta) == {"type": "assistant_text", "turn_id": "t1", "delta": "Four"}
    interrupted = gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(turn_id="t1", type=gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED)
    )
    assert converse_event(interrupted) == TurnEvent(kind="interrupted", turn_id="t1")
    assert to_page(interrupted) == {"type": "turn", "event": "interrupted", "turn_id": "t1"}
    speech = gateway_pb2.ConverseResponse(
        speech_event=asr_pb2.SpeechEvent(type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED)
    )
    assert to_page(speech) == {"type": "speech", "event": "ended"}
    error = gateway_pb2.ConverseResponse(
        error=gateway_pb2.ErrorEvent(code=14, message="tts down", stage="tts")
    )
    assert to_page(error) == {
        "type": "error",
        "code": 14,
        "message": "tts down",
        "stage": "tts",
    }


def test_media_carry_their_turn_id_and_are_not_page_messages() -> None:
    frame = converse_event(
        gateway_pb2.ConverseResponse(media_frame=media_frame_proto(3, luma=77), turn_id="t9")
    )
    assert isinstance(frame, TutorFrame) and frame.turn_id == "t9"
    assert frame.pts_us == 120_000 and frame.audio.turn_id == "t9"
    assert frame.image is not None and int(frame.image.data[:64].mean()) == 77
    assert len(frame.audio.pcm) == 2 * 1920 and frame.audio.sample_rate_hz == 48000
    assert page_message(frame) is None
    audio = converse_event(
        gateway_pb2.ConverseResponse(
            audio=media_pb2.AudioChunk(data=b"\1\0", sample_rate_hz=16000, pts_us=5),
            turn_id="t9",
        )
    )
    assert audio == TutorAudio(turn_id="t9", pcm=b"\1\0", sample_rate_hz=16000, pts_us=5)


def test_a_picture_the_edge_cannot_convert_keeps_its_audio() -> None:
    proto = media_frame_proto(0)
    proto.video.pixel_format = media_pb2.PIXEL_FORMAT_JPEG
    frame = converse_event(gateway_pb2.ConverseResponse(media_frame=proto, turn_id="t"))
    assert isinstance(frame, TutorFrame) and frame.image is None and frame.audio.pcm


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "text", "text": "  hi  "}', ("text", "hi")),
        ('{"type": "interrupt"}', ("interrupt", "")),
        ("plain words", ("text", "plain words")),
        (b'{"type": "text", "text": "bytes"}', ("text", "bytes")),
        ('{"type": "text", "text": "   "}', None),
        ('{"type": "dance"}', None),
        ("[1, 2]", None),
        (b"\xff\xfe", None),
    ],
)
def test_page_messages(raw: str | bytes, expected: tuple[str, str] | None) -> None:
    assert client_message(raw) == expected


def test_long_text_is_cut_to_the_gateway_limit() -> None:
    parsed = client_message('{"type": "text", "text": "' + "a" * 5000 + '"}')
    assert parsed is not None and len(parsed[1]) == MAX_TEXT_CHARS


def test_an_ended_turn_tells_the_page_the_gateway_stage_times() -> None:
    timings = gateway_pb2.TurnTimings(
        end_of_speech_us=2_000_000,
        final_transcript_us=2_150_000,
        first_token_us=2_160_500,
        first_audio_us=2_400_000,
        first_frame_us=2_450_000,
        last_frame_us=9_000_000,
    )
    completed = gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(
            turn_id="t1", type=gateway_pb2.TURN_EVENT_TYPE_COMPLETED, timings=timings
        )
    )
    assert to_page(completed) == {
        "type": "turn",
        "event": "completed",
        "turn_id": "t1",
        "stage_ms": {
            "final_transcript": 150.0,
            "first_token": 160.5,
            "first_audio": 400.0,
            "first_frame": 450.0,
        },
    }
    # A typed turn has no end of speech to count from; a started turn has no stages yet.
    typed = gateway_pb2.TurnTimings(final_transcript_us=1_000, first_token_us=5_000)
    no_speech = gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(
            turn_id="t2", type=gateway_pb2.TURN_EVENT_TYPE_COMPLETED, timings=typed
        )
    )
    assert to_page(no_speech) == {"type": "turn", "event": "completed", "turn_id": "t2"}
    started = gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(
            turn_id="t3",
            type=gateway_pb2.TURN_EVENT_TYPE_STARTED,
            timings=gateway_pb2.TurnTimings(end_of_speech_us=1, final_transcript_us=2_001),
        )
    )
    assert to_page(started) == {"type": "turn", "event": "started", "turn_id": "t3"}
