"""The conversation's turn logic over in-memory fake upstreams: barge-in at every stage, false
starts, upstream failures, chat and voice interleaved, what is heard and what is kept."""

from __future__ import annotations

import asyncio

import pytest
from vtutor.gateway.v1 import gateway_pb2

from gateway.chat import chat_turn
from gateway.conversation_context import SessionTurns
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ErrorOut,
    FrameOut,
    TranscriptOut,
    TurnEventKind,
    TurnEventOut,
)
from gateway.proto_mapping import record_to_proto
from gateway.turn_records import TurnOutcome
from gateway.upstream.asr_client import RecognizedText, SpeechActivity
from tests.gateway.conversation_harness import LiveConversation, options, spoken, unit_settings
from tests.gateway.fake_upstreams import FakeLlm, FakeUpstreams

pytestmark = pytest.mark.unit

ANSWER_WORDS = FakeLlm().answer.split()


def is_media(event: object) -> bool:
    return isinstance(event, AudioOut | FrameOut)


def started(event: object) -> bool:
    return isinstance(event, TurnEventOut) and event.kind is TurnEventKind.STARTED


async def ask_by_voice(live: LiveConversation, text: str = "what is photosynthesis") -> None:
    await live.audio(700)
    await live.fakes.asr.say(*spoken(text))


async def barge_in(live: LiveConversation) -> None:
    """The student speaks over the tutor, long enough to pass the guard."""
    await live.audio(200)
    received = live.conversation.speech.received_ms
    await live.fakes.asr.say(SpeechActivity(True, int(received) - 150, 1))


async def test_barge_in_before_the_first_token_keeps_nothing() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(first_delay_s=5))
    async with LiveConversation(fakes) as live:
        await ask_by_voice(live)
        await live.wait_for(started)
        await barge_in(live)
        record = await live.ended()
    assert record.outcome is TurnOutcome.INTERRUPTED
    assert record.assistant_text == "" and record.timings.first_token_us == 0
    assert fakes.llm.streams[0].outcome == "cancelled"
    assert not live.of_turn(record.turn_id)
    assert live.session.turns == [record]


@pytest.mark.parametrize("video", [False, True], ids=["mid-tts", "mid-frames"])
async def test_barge_in_mid_speech_keeps_only_the_heard_words(video: bool) -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.001))
    # A short output channel: the pipeline runs only a little ahead of playback.
    settings = unit_settings(media_lead_ms=100, stage_queue_size=8)
    async with LiveConversation(fakes, settings, options(video=video)) as live:
        await ask_by_voice(live)
        await live.wait_for(is_media)
        await asyncio.sleep(0.3)  # the student hears ~300 ms, then cuts in
        await barge_in(live)
        record = await live.ended()
        # The next question carries the heard words as the tutor's last message.
        await live.text("and then?")
        await live.ended(2)
        live.assert_nothing_after_interruption()
    assert record.outcome is TurnOutcome.INTERRUPTED
    heard = record.assistant_text.split()
    assert 1 <= len(heard) < 6, record.assistant_text
    assert [w.strip(".") for w in heard] == [w.strip(".") for w in ANSWER_WORDS[: len(heard)]]
    media = [e for e in live.of_turn(record.turn_id) if is_media(e)]
    assert media and all(isinstance(e, FrameOut if video else AudioOut) for e in media)
    assert all(e.turn_id == record.turn_id for e in media)
    second = fakes.llm.requests[1].messages
    assert [m.content for m in second[-3:]] == [
        "what is photosynthesis",
        record.assistant_text,
        "and then?",
    ]
    streams = fakes.lipsync.streams if video else fakes.tts.streams
    assert streams[0].outcome == "cancelled"


async def test_a_false_start_under_the_guard_does_not_interrupt() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.01))
    settings = unit_settings(media_lead_ms=50)
    async with LiveConversation(fakes, settings) as live:
        await ask_by_voice(live)
        await live.wait_for(is_media)
        received = int(live.conversation.speech.received_ms)
        # A 60 ms cough (under the 100 ms guard), then an "mm" whose transcript is one word.
        await fakes.asr.say(
            SpeechActivity(True, received, 1),
            SpeechActivity(False, received + 60, 1),
            RecognizedText("mm", True, received, received + 60, 1),
        )
        record = await live.ended()
    assert record.outcome is TurnOutcome.COMPLETED
    assert record.assistant_text == " ".join(ANSWER_WORDS)
    assert [f.text for f in live.finals()] == ["what is photosynthesis", "mm"]
    assert live.finals()[1].turn_id == ""  # a backchannel starts no turn
    assert len(fakes.llm.requests) == 1


async def test_sustained_speech_interrupts_once_the_guard_has_passed() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, unit_settings(media_lead_ms=50)) as live:
        await ask_by_voice(live)
        await live.wait_for(is_media)
        received = int(live.conversation.speech.received_ms)
        await fakes.asr.say(SpeechActivity(True, received, 1))  # just begun: the guard waits
        assert live.conversation.current_turn is not None
        await live.audio(200)
        record = await live.ended()
    assert record.outcome is TurnOutcome.INTERRUPTED
    live.assert_nothing_after_interruption()


@pytest.mark.parametrize("stage", ["llm", "tts", "lipsync"])
async def test_an_upstream_failing_fails_the_turn_with_its_status(stage: str) -> None:
    fakes = FakeUpstreams()
    getattr(fakes, stage).fail_after = 3 if stage != "tts" else 1
    async with LiveConversation(fakes, stream_options=options(video=True)) as live:
        await ask_by_voice(live)
        record = await live.ended()
        getattr(fakes, stage).fail_after = None
        await live.text("try again")
        await live.ended(2)
    assert record.outcome is TurnOutcome.FAILED
    assert record.failure is not None and record.failure.stage == stage
    assert record.failure.code == 14  # UNAVAILABLE
    errors = [e for e in live.events if isinstance(e, ErrorOut)]
    assert [(e.stage, e.turn_id) for e in errors] == [(stage, record.turn_id)]
    # What was kept is only what reached the student (the whole answer never did).
    assert record.assistant_text != " ".join(ANSWER_WORDS)
    proto = record_to_proto(record)
    assert proto.outcome == gateway_pb2.TURN_OUTCOME_FAILED and not proto.interrupted
    assert (proto.failure_code, proto.failure_stage) == (14, stage)
    # A failed turn is not history: the next question is asked without it.
    assert "what is photosynthesis" not in [m.content for m in fakes.llm.requests[1].messages]


async def test_asr_failing_is_reported_and_text_still_works() -> None:
    fakes = FakeUpstreams()
    fakes.asr.fail = True
    async with LiveConversation(fakes) as live:
        await live.audio(100)
        error = await live.wait_for(lambda e: isinstance(e, ErrorOut))
        await live.text("what is photosynthesis")
        record = await live.ended()
    assert isinstance(error, ErrorOut) and (error.stage, error.code) == ("asr", 14)
    assert record.outcome is TurnOutcome.COMPLETED


async def test_chat_and_voice_turns_interleave_in_one_history() -> None:
    fakes = FakeUpstreams()
    async with LiveConversation(fakes) as live:
        await ask_by_voice(live, "what is photosynthesis")
        await live.ended()
        chat = [
            event
            async for event in chat_turn(
                "what is the water cycle",
                tutor=live.session.tutor,
                history=live.session.history(20),
                clients=fakes.clients,
                settings=live.settings,
                records=SessionTurns(live.registry, live.session),
            )
        ]
        await live.audio(700)
        await fakes.asr.say(*spoken("and what is rain", start_ms=1500, end_ms=2100, index=1))
        await live.ended(2)
    kinds = [type(e).__name__ for e in chat]
    assert kinds[-1] == "TurnEventOut" and set(kinds[:-1]) == {"AssistantTextOut"}
    assert [t.user_text for t in live.session.turns] == [
        "what is photosynthesis",
        "what is the water cycle",
        "and what is rain",
    ]
    assert [t.turn_index for t in live.session.turns] == [0, 1, 2]
    assert all(t.outcome is TurnOutcome.COMPLETED for t in live.session.turns)
    last = [m.content for m in fakes.llm.requests[2].messages if m.role == "user"]
    assert last == ["what is photosynthesis", "what is the water cycle", "and what is rain"]


async def test_a_chat_caller_leaving_mid_answer_leaves_an_interrupted_turn() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.05))
    async with LiveConversation(fakes) as live:
        turns = chat_turn(
            "what is photosynthesis",
            tutor=live.session.tutor,
            history=[],
            clients=fakes.clients,
            settings=live.settings,
            records=SessionTurns(live.registry, live.session),
        )
        first = await anext(turns)
        await turns.aclose()
    assert isinstance(first, AssistantTextOut)
    (record,) = live.session.turns
    assert record.outcome is TurnOutcome.INTERRUPTED
    assert record.assistant_text.startswith(first.delta) and len(record.assistant_text) < 20


async def test_an_interrupt_message_and_a_new_question_cut_the_playing_turn() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    async with LiveConversation(fakes, unit_settings(media_lead_ms=50)) as live:
        await live.text("what is photosynthesis")
        await live.wait_for(is_media)
        await live.text("what is the water cycle")  # a new question cuts the first answer
        await live.wait_for(lambda e: is_media(e) and e.turn_id != live.turn_events()[0].turn_id)
        await live.interrupt()
        first, second = await live.ended(1), await live.ended(2)
    assert (first.outcome, second.outcome) == (TurnOutcome.INTERRUPTED, TurnOutcome.INTERRUPTED)
    live.assert_nothing_after_interruption()
    # The second answer's media starts after what was played of the first, never before.
    first_media = [e for e in live.of_turn(first.turn_id) if isinstance(e, AudioOut)]
    second_media = [e for e in live.of_turn(second.turn_id) if isinstance(e, AudioOut)]
    assert second_media[0].pts_us >= first_media[0].pts_us
    assert [e.kind for e in live.turn_events()] == [
        TurnEventKind.STARTED,
        TurnEventKind.INTERRUPTED,
        TurnEventKind.STARTED,
        TurnEventKind.INTERRUPTED,
    ]


async def test_order_of_a_spoken_turn_and_its_turn_ids() -> None:
    fakes = FakeUpstreams()
    async with LiveConversation(fakes, stream_options=options(video=True)) as live:
        await ask_by_voice(live)
        record = await live.ended()
    final = live.finals()[0]
    assert isinstance(final, TranscriptOut) and final.turn_id == record.turn_id
    kinds = [type(e).__name__ for e in live.events if not isinstance(e, SpeechActivity)]
    assert kinds[:3] == ["SessionOpened", "TranscriptOut", "TurnEventOut"]
    assert kinds[-1] == "TurnEventOut" and "FrameOut" in kinds
    frames = [e for e in live.events if isinstance(e, FrameOut)]
    assert {f.turn_id for f in frames} == {record.turn_id}
    assert [f.pts_us for f in frames] == sorted(f.pts_us for f in frames)
    assert record.outcome is TurnOutcome.COMPLETED and record_to_proto(record).outcome == 1
    assert 0 < record.timings.end_of_speech_us <= record.timings.final_transcript_us


async def test_a_long_mm_over_the_tutor_neither_interrupts_nor_asks() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.01))
    async with LiveConversation(fakes, unit_settings(media_lead_ms=50)) as live:
        await ask_by_voice(live)
        await live.wait_for(is_media)
        received = int(live.conversation.speech.received_ms)
        # "mmm" for 400 ms: past the guard, but its interim transcript is backchannel.
        await fakes.asr.say(
            SpeechActivity(True, received, 1), RecognizedText("mmm", False, received, 0, 1)
        )
        await live.audio(400)
        await asyncio.sleep(0.2)
        assert live.conversation.current_turn is not None
        await fakes.asr.say(
            SpeechActivity(False, received + 400, 1),
            RecognizedText("mmm", True, received, received + 400, 1),
        )
        record = await live.ended()
    assert record.outcome is TurnOutcome.COMPLETED
    assert len(fakes.llm.requests) == 1


async def test_backchannel_alone_starts_no_turn() -> None:
    fakes = FakeUpstreams()
    async with LiveConversation(fakes) as live:
        await live.audio(700)
        await fakes.asr.say(*spoken("uh huh"))
        await live.wait_for(lambda e: isinstance(e, TranscriptOut) and e.is_final)
        await asyncio.sleep(0.05)
    assert fakes.llm.requests == [] and live.turn_events() == []
