"""Caption deltas that queued up behind the client sender go as one message (issue 20): a whole
answer at once was one Converse message (and one data-channel message at the edge) per word,
all before the turn's first frame."""

from __future__ import annotations

import pytest

from gateway.client_sender import ClientSender
from gateway.events import AssistantTextOut, FrameOut
from gateway.turn_output import TurnOutput
from gateway.upstream.lipsync_client import AnimatedFrame

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]

WORDS = ["Plants", " make", " their", " food", " from", " sunlight", "."]


def frame(turn_id: str) -> FrameOut:
    image = AnimatedFrame(0, 2, 2, 0, bytes(6), bytes(640), 0, 16000)
    return FrameOut(turn_id, image, 0)


async def test_queued_deltas_are_taken_as_one_in_order() -> None:
    output = TurnOutput("t1", sample_rate_hz=16000, capacity=64)
    for word in WORDS:
        await output.put(AssistantTextOut("t1", word))
    taken = output.take_text()
    assert taken == AssistantTextOut("t1", "".join(WORDS))
    assert output.take_text() is None
    assert "".join(output.sent_text) == "".join(WORDS)  # what barge-in counts as shown


async def test_a_delta_after_the_sender_took_the_rest_is_its_own_message() -> None:
    output = TurnOutput("t1", sample_rate_hz=16000, capacity=64)
    await output.put(AssistantTextOut("t1", "Plants"))
    assert output.take_text() == AssistantTextOut("t1", "Plants")
    await output.put(AssistantTextOut("t1", " grow"))
    assert output.take_text() == AssistantTextOut("t1", " grow")
    assert "".join(output.sent_text) == "Plants grow"


async def test_the_client_gets_an_answer_s_text_in_one_message_before_its_first_frame() -> None:
    sender = ClientSender(lead_ms=0, capacity=8)
    output = TurnOutput("t1", sample_rate_hz=16000, capacity=64)
    for word in WORDS:
        await output.put(AssistantTextOut("t1", word))
    await output.put(frame("t1"))
    output.close()
    sender.attach(output)
    events = sender.events()
    sent = [await anext(events), await anext(events)]
    await events.aclose()  # type: ignore[attr-defined]
    assert [type(event) for event in sent] == [AssistantTextOut, FrameOut]
    assert sent[0] == AssistantTextOut("t1", "".join(WORDS))
