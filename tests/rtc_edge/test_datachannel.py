"""The data channel's JSON: conversation events out, text and interrupt in."""

from __future__ import annotations

import pytest
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2

from rtc_edge.datachannel import MAX_TEXT_CHARS, client_message, converse_event

pytestmark = pytest.mark.unit


def test_events_to_page() -> None:
    transcript = gateway_pb2.ConverseResponse(
        transcript=gateway_pb2.Transcript(text="two plus two", is_final=True, turn_id="t1")
    )
    assert converse_event(transcript) == {
        "type": "transcript",
        "text": "two plus two",
        "final": True,
        "turn_id": "t1",
    }
    delta = gateway_pb2.ConverseResponse(
        assistant_text=gateway_pb2.AssistantText(turn_id="t1", delta="Four")
    )
    assert converse_event(delta) == {"type": "assistant_text", "turn_id": "t1", "delta": "Four"}
    interrupted = gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(turn_id="t1", type=gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED)
    )
    assert converse_event(interrupted) == {"type": "turn", "event": "interrupted", "turn_id": "t1"}
    speech = gateway_pb2.ConverseResponse(
        speech_event=asr_pb2.SpeechEvent(type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED)
    )
    assert converse_event(speech) == {"type": "speech", "event": "ended"}
    error = gateway_pb2.ConverseResponse(
        error=gateway_pb2.ErrorEvent(code=14, message="tts down", stage="tts")
    )
    assert converse_event(error) == {
        "type": "error",
        "code": 14,
        "message": "tts down",
        "stage": "tts",
    }


def test_media_is_not_a_page_message() -> None:
    media = gateway_pb2.ConverseResponse(media_frame=media_pb2.MediaFrame())
    assert converse_event(media) is None


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
