"""A question the student goes on with after a pause the ASR took for the end is answered
whole: "what happens when you mix" ... "red and blue paint" is one question, not two."""

from __future__ import annotations

import pytest

from gateway.events import AudioOut
from gateway.turn_coordinator import opens_a_question
from gateway.turn_records import TurnOutcome
from gateway.upstream.asr_client import RecognizedText, SpeechActivity
from tests.gateway.conversation_harness import LiveConversation, unit_settings
from tests.gateway.fake_upstreams import FakeLlm, FakeUpstreams

pytestmark = pytest.mark.unit

FIRST, REST = "what happens when you mix", "red and blue paint"


def utterance(
    text: str, index: int, start_ms: int, end_ms: int
) -> list[SpeechActivity | RecognizedText]:
    return [
        SpeechActivity(False, end_ms, index),
        RecognizedText(text, True, start_ms, end_ms, index),
    ]


async def ask_then_go_on(live: LiveConversation, *, resume_after_ms: int) -> None:
    """The first part, its answer playing, then the student speaking again."""
    fakes = live.fakes
    await live.audio(1000)
    await fakes.asr.say(SpeechActivity(True, 0, 0), *utterance(FIRST, 0, 0, 800))
    await live.wait_for(lambda e: isinstance(e, AudioOut))
    resume_ms = 800 + resume_after_ms
    while live.conversation.speech.received_ms < resume_ms + 300:
        await live.audio(100)
    await fakes.asr.say(SpeechActivity(True, resume_ms, 1))


def settings(**overrides: int):  # type: ignore[no-untyped-def]
    return unit_settings(media_lead_ms=50, **overrides)


async def test_the_student_going_on_after_a_pause_gets_one_answer_to_the_whole_question():
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, settings()) as live:
        await ask_then_go_on(live, resume_after_ms=700)
        first = await live.ended()  # the barge-in stopped the answer to the first part
        await fakes.asr.say(*utterance(REST, 1, 1500, 2600))
        second = await live.ended(2)
    assert first.outcome is TurnOutcome.INTERRUPTED and first.user_text == FIRST
    assert second.user_text == f"{FIRST} {REST}"
    assert fakes.llm.requests[-1].messages[-1].content == f"{FIRST} {REST}"
    # The student's captions stay what each utterance said.
    assert [t.text for t in live.finals()] == [FIRST, REST]


async def test_speech_long_after_the_question_is_a_question_of_its_own():
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, settings(continuation_gap_ms=1500)) as live:
        await ask_then_go_on(live, resume_after_ms=2000)
        await live.ended()
        await fakes.asr.say(*utterance(REST, 1, 2800, 3900))
        second = await live.ended(2)
    assert second.user_text == REST


async def test_a_question_after_a_complete_answer_is_a_question_of_its_own():
    fakes = FakeUpstreams(llm=FakeLlm(answer="Purple.", delay_s=0.001))
    async with LiveConversation(fakes, settings()) as live:
        await live.audio(1000)
        await fakes.asr.say(SpeechActivity(True, 0, 0), *utterance(FIRST, 0, 0, 800))
        first = await live.ended()
        await fakes.asr.say(SpeechActivity(True, 1500, 1), *utterance(REST, 1, 1500, 2600))
        second = await live.ended(2)
    assert first.outcome is TurnOutcome.COMPLETED
    assert second.user_text == REST


async def test_continuations_can_be_turned_off():
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, settings(continuation_gap_ms=0)) as live:
        await ask_then_go_on(live, resume_after_ms=700)
        await live.ended()
        await fakes.asr.say(*utterance(REST, 1, 1500, 2600))
        second = await live.ended(2)
    assert second.user_text == REST


async def test_a_new_question_asked_over_the_answer_is_not_a_continuation():
    # Within the gap, but it opens a question of its own: a barge-in with a new question.
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, settings(continuation_gap_ms=1500)) as live:
        await ask_then_go_on(live, resume_after_ms=700)
        await live.ended()
        await fakes.asr.say(*utterance("tell me about the planets", 1, 1500, 2600))
        second = await live.ended(2)
    assert second.user_text == "tell me about the planets"


@pytest.mark.parametrize(
    ("text", "opens"),
    [
        ("tell me about the planets", True),
        ("what is the water cycle", True),
        ("can you explain photosynthesis", True),
        ("red and blue paint", False),
        ("a plant cell and an animal cell", False),
        ("water cycle works", False),
        ("work", False),
    ],
)
def test_what_opens_a_question(text, opens):
    assert opens_a_question(text) is opens
