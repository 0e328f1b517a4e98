"""Clients drop an interrupted turn's media by its turn id: gateway.cli and the gRPC student."""

from __future__ import annotations

import pytest
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2

from gateway.cli import TurnResult, _collect

pytestmark = pytest.mark.unit


def media(turn_id: str, index: int) -> gateway_pb2.ConverseResponse:
    return gateway_pb2.ConverseResponse(
        media_frame=media_pb2.MediaFrame(video=media_pb2.VideoFrame(pts_us=index * 40_000)),
        turn_id=turn_id,
    )


def turn_event(turn_id: str, kind: int) -> gateway_pb2.ConverseResponse:
    return gateway_pb2.ConverseResponse(
        turn_event=gateway_pb2.TurnEvent(turn_id=turn_id, type=kind)
    )


def test_cli_drops_the_queued_and_late_media_of_an_interrupted_turn() -> None:
    result = TurnResult()
    for i in range(3):
        _collect(media("a", i), result)
    _collect(
        gateway_pb2.ConverseResponse(audio=media_pb2.AudioChunk(data=b"xx"), turn_id="a"), result
    )
    _collect(turn_event("a", gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED), result)
    assert result.frames == [] and result.audio == []
    _collect(media("a", 3), result)  # still on the wire when the interruption came
    _collect(media("b", 0), result)
    _collect(turn_event("b", gateway_pb2.TURN_EVENT_TYPE_COMPLETED), result)
    assert [f.video.pts_us for f in result.frames] == [0] and result.frame_turns == ["b"]
    assert result.outcome == "COMPLETED"
