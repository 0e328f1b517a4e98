"""The ASR client's plain events: speech activity with the end-of-turn decision."""

from __future__ import annotations

import pytest
from vtutor.asr.v1 import asr_pb2

from gateway.upstream.asr_client import SpeechActivity, _event

pytestmark = pytest.mark.unit


def test_speech_ended_carries_the_end_of_turn_decision() -> None:
    if "end_of_turn_probability" not in asr_pb2.SpeechEvent.DESCRIPTOR.fields_by_name:
        pytest.skip("asr.proto has no end-of-turn fields yet")
    ended = asr_pb2.StreamingRecognizeResponse(
        speech_event=asr_pb2.SpeechEvent(
            type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
            offset_ms=1200,
            utterance_index=2,
            end_of_turn_reason=asr_pb2.END_OF_TURN_REASON_TURN_COMPLETE,
            end_of_turn_probability=0.875,
        )
    )
    assert _event(ended) == SpeechActivity(False, 1200, 2, True, 0.875)
    silence = asr_pb2.StreamingRecognizeResponse(
        speech_event=asr_pb2.SpeechEvent(
            type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
            offset_ms=900,
            end_of_turn_reason=asr_pb2.END_OF_TURN_REASON_SILENCE,
        )
    )
    assert _event(silence) == SpeechActivity(False, 900, 0, False, None)


def test_speech_started_has_no_end_of_turn_decision() -> None:
    started = asr_pb2.StreamingRecognizeResponse(
        speech_event=asr_pb2.SpeechEvent(
            type=asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED, offset_ms=40
        )
    )
    assert _event(started) == SpeechActivity(True, 40, 0)
