"""A turn's first frame continues from the idle-loop frame the client shows, so the head does
not jump when the tutor starts talking (issue 14 item 4)."""

from __future__ import annotations

import pytest
from vtutor.gateway.v1 import gateway_pb2

from gateway.idle_position import IdleLoopPosition
from gateway.proto_mapping import client_input
from svc_core.errors import InvalidArgument
from tests.gateway.conversation_harness import LiveConversation, options, unit_settings
from tests.gateway.fake_upstreams import FakeUpstreams

pytestmark = pytest.mark.unit


def test_the_position_runs_on_at_the_stream_frame_rate() -> None:
    position = IdleLoopPosition()
    assert position.frame_at(5_000_000, 25) == 0  # never reported: the loop's start
    position.report(40, now_us=1_000_000)
    assert position.frame_at(1_000_000, 25) == 40
    assert position.frame_at(1_200_000, 25) == 45  # 200 ms = 5 frames later
    assert position.frame_at(900_000, 25) == 40  # never backwards


async def test_a_turn_starts_from_the_idle_frame_on_screen_when_its_first_frame_shows() -> None:
    settings = unit_settings(first_frame_delay_ms=200)
    async with LiveConversation(FakeUpstreams(), settings, options(video=True)) as live:
        await live.idle_position(40)
        await live.text("what is photosynthesis")
        await live.ended()
        await live.text("and why is it green")
        await live.ended(2)
    first, second = live.fakes.lipsync.settings
    # 40, then 5 frames for the 200 ms until the first frame shows (planning took a moment).
    assert 45 <= first.start_idle_index <= 47
    # No new report: the second turn extrapolates from the same one, later in the loop.
    assert second.start_idle_index > first.start_idle_index


async def test_without_reports_turns_start_at_the_loops_first_frame() -> None:
    async with LiveConversation(FakeUpstreams(), stream_options=options(video=True)) as live:
        await live.text("what is photosynthesis")
        await live.ended()
    assert [s.start_idle_index for s in live.fakes.lipsync.settings] == [0]


def test_a_negative_idle_index_is_invalid() -> None:
    message = gateway_pb2.ConverseRequest(idle_position=gateway_pb2.IdlePosition(idle_index=-1))
    with pytest.raises(InvalidArgument, match="idle_index"):
        client_input(message)
