"""Speculative answers over in-memory fake upstreams: committed when the final transcript
matches, discarded when it differs or the student speaks on, invisible until committed."""

from __future__ import annotations

import asyncio

import pytest

from gateway import metrics, turn_handle
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ErrorOut,
    FrameOut,
    TranscriptOut,
    TurnEventOut,
)
from gateway.turn_records import TurnOutcome
from gateway.upstream.asr_client import RecognizedText, SpeechActivity
from gateway.upstream.llm_client import TokenText
from tests.gateway.conversation_harness import LiveConversation, options, unit_settings
from tests.gateway.fake_upstreams import FakeLlm, FakeStream, FakeUpstreams

pytestmark = pytest.mark.unit

STABLE_MS = 40


def speculating(answers: dict[str, str] | None = None) -> LiveConversation:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.001, answers=answers or {}))
    return LiveConversation(fakes, unit_settings(speculation_stable_ms=STABLE_MS), options())


def interim(text: str, index: int = 0) -> RecognizedText:
    return RecognizedText(text, False, 0, 0, index)


def final(text: str, index: int = 0, end_ms: int = 600) -> list[object]:
    return [SpeechActivity(False, end_ms, index), RecognizedText(text, True, 0, end_ms, index)]


def answer_events(live: LiveConversation) -> list[object]:
    return [
        e
        for e in live.events
        if isinstance(e, AssistantTextOut | AudioOut | FrameOut | TurnEventOut)
    ]


def turn_ids(live: LiveConversation) -> set[str]:
    ids = {getattr(e, "turn_id", "") for e in live.events}
    return ids - {""}


async def until(condition, timeout_s: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


async def test_a_stable_interim_is_answered_before_the_final_and_committed() -> None:
    committed = metrics.SPECULATIONS["committed"]
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await until(lambda: fakes.tts.streams)  # the answer is being spoken, hidden
        await asyncio.sleep(0.05)
        assert answer_events(live) == []  # nothing of it reached the client
        await fakes.asr.say(*final("What is photosynthesis?"))
        record = await live.ended()
    assert record.outcome is TurnOutcome.COMPLETED and record.speculative
    assert len(fakes.llm.requests) == 1
    assert fakes.llm.requests[0].messages[-1].content == "what is photosynthesis"
    assert record.user_text == "what is photosynthesis"
    (transcript,) = live.finals()
    assert transcript.turn_id == record.turn_id and transcript.text == "What is photosynthesis?"
    # Transcript, then STARTED, then the answer; nothing of the answer before the transcript.
    first_answer = next(i for i, e in enumerate(live.events) if isinstance(e, AssistantTextOut))
    assert live.events.index(transcript) < first_answer
    t = record.timings
    assert 0 < t.end_of_speech_us <= t.final_transcript_us <= t.first_token_us <= t.first_audio_us
    assert metrics.SPECULATIONS["committed"] == committed + 1
    # The client did not ask for interim transcripts: ASR was asked, the client sees none.
    assert fakes.asr.settings[0].interim_results
    assert not [e for e in live.events if isinstance(e, TranscriptOut) and not e.is_final]


async def test_a_speculation_the_final_transcript_contradicts_is_discarded_unseen() -> None:
    discarded = metrics.SPECULATIONS["discarded"]
    answers = {"what is photo": "A photo is a picture. It is taken with a camera."}
    async with speculating(answers) as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photo"))
        await until(lambda: fakes.llm.streams)
        await fakes.asr.say(*final("what is photosynthesis"))
        record = await live.ended()
    assert not record.speculative and record.user_text == "what is photosynthesis"
    assert [r.messages[-1].content for r in fakes.llm.requests] == [
        "what is photo",
        "what is photosynthesis",
    ]
    assert fakes.llm.streams[0].outcome in ("cancelled", "completed")
    assert turn_ids(live) == {record.turn_id}  # not one message of the discarded answer
    assert live.session.turns == [record]
    assert metrics.SPECULATIONS["discarded"] == discarded + 1


async def test_a_final_transcript_with_other_words_but_the_same_answer_commits_it() -> None:
    # The recognizer's final pass changed a word; the answer to the final words begins with
    # the same sentence, so the prepared answer is the turn, now for the final words.
    committed = metrics.SPECULATIONS["committed"]
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("tell me about the planet"))
        await until(lambda: fakes.tts.streams)
        await fakes.asr.say(*final("tell me about the planets"))
        record = await live.ended()
    assert record.outcome is TurnOutcome.COMPLETED and record.speculative
    assert record.user_text == "tell me about the planets"
    assert [r.messages[-1].content for r in fakes.llm.requests] == [
        "tell me about the planet",
        "tell me about the planets",
    ]
    # The fresh answer ran hidden until the comparison, then stopped.
    assert fakes.llm.streams[1].outcome in ("cancelled", "completed")
    assert [stream.outcome for stream in fakes.tts.streams[1:]] in ([], ["cancelled"])
    assert turn_ids(live) == {record.turn_id}  # nothing of the fresh turn reached the client
    assert live.session.turns == [record]
    assert metrics.SPECULATIONS["committed"] == committed + 1


async def test_new_speech_cancels_the_speculation() -> None:
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is the difference"))
        await until(lambda: fakes.llm.streams)
        # A thinking pause, then the student goes on: the speculation goes.
        await fakes.asr.say(SpeechActivity(True, 900, 1))
        assert fakes.llm.streams[0].outcome in ("cancelled", "completed")
        assert live.conversation.turns._speculation.turn is None
        await fakes.asr.say(
            interim("between a virus and a cell", 1),
            *final("between a virus and a cell", 1, end_ms=1500),
        )
        record = await live.ended()
    assert record.user_text == "between a virus and a cell"
    assert turn_ids(live) == {record.turn_id}
    assert [t.user_text for t in live.session.turns] == ["between a virus and a cell"]


async def test_barge_in_during_a_committed_speculation_interrupts_it() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.02))
    settings = unit_settings(speculation_stable_ms=STABLE_MS, media_lead_ms=50)
    async with LiveConversation(fakes, settings) as live:
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await until(lambda: fakes.llm.streams)
        await fakes.asr.say(*final("what is photosynthesis"))
        await live.wait_for(lambda e: isinstance(e, AudioOut))
        await live.audio(200)
        received = int(live.conversation.speech.received_ms)
        await fakes.asr.say(SpeechActivity(True, received - 150, 1))
        record = await live.ended()
        live.assert_nothing_after_interruption()
    assert record.speculative and record.outcome is TurnOutcome.INTERRUPTED


async def test_without_speculation_only_the_final_transcript_starts_a_turn() -> None:
    fakes = FakeUpstreams()
    async with LiveConversation(fakes, unit_settings(speculation_stable_ms=0)) as live:
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await asyncio.sleep(STABLE_MS * 3 / 1000)
        assert fakes.llm.requests == []
        await fakes.asr.say(*final("what is photosynthesis"))
        record = await live.ended()
    assert not record.speculative and record.outcome is TurnOutcome.COMPLETED
    assert not fakes.asr.settings[0].interim_results  # nobody needs interim results


async def test_the_asr_ending_the_utterance_starts_the_speculation_at_once() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.001))
    settings = unit_settings(speculation_stable_ms=5000)  # stability alone would take 5 s
    async with LiveConversation(fakes, settings) as live:
        await live.audio(700, loud=True)  # still talking: the interim is not answered yet
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await asyncio.sleep(0.05)
        assert fakes.llm.requests == []
        # The end-of-turn model judged the question complete: the final is being decoded.
        await fakes.asr.say(SpeechActivity(False, 600, 0, True, 0.93))
        await until(lambda: fakes.llm.requests)
        assert answer_events(live) == []
        await fakes.asr.say(RecognizedText("what is photosynthesis", True, 0, 600, 0))
        record = await live.ended()
    assert record.speculative and len(fakes.llm.requests) == 1


async def test_new_words_in_a_pause_are_answered_at_once() -> None:
    # The recognizer sends its words as a pause begins (before its end-of-turn verdict): in
    # a pause, new words are not left to the stability timer.
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0.001))
    settings = unit_settings(speculation_stable_ms=5000)
    async with LiveConversation(fakes, settings) as live:
        await live.audio(700, loud=True)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photo"))
        await asyncio.sleep(0.05)
        assert fakes.llm.requests == []  # mid-speech: waits for stability
        await live.audio(200)  # the student stops
        await fakes.asr.say(interim("what is photosynthesis"))
        await until(lambda: fakes.llm.requests)
        assert fakes.llm.requests[0].messages[-1].content == "what is photosynthesis"
        assert answer_events(live) == []
        await fakes.asr.say(*final("what is photosynthesis"))
        record = await live.ended()
    assert record.speculative and len(fakes.llm.requests) == 1


async def test_a_speculation_that_failed_is_answered_afresh_by_the_final() -> None:
    fakes = FakeUpstreams(llm=FakeLlm(fail_after=0))
    settings = unit_settings(speculation_stable_ms=STABLE_MS)
    async with LiveConversation(fakes, settings) as live:
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await until(lambda: fakes.llm.streams and fakes.llm.streams[0].outcome == "failed")
        # ... and the prepared turn has seen it fail (a failure racing the final transcript is
        # committed and reported like any failed turn).
        speculation = live.conversation.turns._speculation
        await until(lambda: speculation.turn is None or speculation.turn.done)
        fakes.llm.fail_after = None  # the LLM is back
        await fakes.asr.say(*final("what is photosynthesis"))
        record = await live.ended()
    assert record.outcome is TurnOutcome.COMPLETED and not record.speculative
    assert len(fakes.llm.requests) == 2
    assert turn_ids(live) == {record.turn_id}  # the failed speculation left no trace


async def test_a_fresh_answer_that_fails_while_compared_fails_in_view() -> None:
    # The final's words differ; its own answer, started hidden for the comparison, fails:
    # the student must see that turn fail (an error with its turn id), not nothing.
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("tell me about the planet"))
        await until(lambda: fakes.tts.streams)
        fakes.llm.fail_after = 0  # the LLM breaks before the final transcript comes
        await fakes.asr.say(*final("tell me about the planets"))
        record = await live.ended()
    assert record.outcome is TurnOutcome.FAILED and not record.speculative
    assert record.user_text == "tell me about the planets"
    errors = [e for e in live.events if isinstance(e, ErrorOut)]
    assert [e.turn_id for e in errors] == [record.turn_id]
    assert turn_ids(live) == {record.turn_id}  # nothing of the prepared or hidden turns


async def test_a_stable_interim_is_answered_only_once_the_student_pauses() -> None:
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700, loud=True)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is magma"))
        await asyncio.sleep(STABLE_MS * 3 / 1000)
        assert fakes.llm.requests == []  # still speaking: a long word, not a pause
        await live.audio(200)  # the pause
        await until(lambda: fakes.llm.requests)
        await fakes.asr.say(*final("what is magma"))
        record = await live.ended()
    assert record.speculative


@pytest.mark.parametrize("words", ["how do plants make their", "tell me about", "what is the"])
async def test_words_a_question_does_not_end_on_are_not_answered_in_a_pause(words: str) -> None:
    # A pause after them is the student thinking (or a stop consonant): the answer waits for
    # the recognizer to end the utterance, which it may still do there.
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700, loud=True)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim(words))
        await live.audio(300)  # a pause, long past the stability time
        await fakes.asr.say(interim(words))
        await asyncio.sleep(STABLE_MS * 3 / 1000)
        assert fakes.llm.requests == []
        await fakes.asr.say(SpeechActivity(False, 600, 0, True, 0.9))  # the turn is over
        await until(lambda: fakes.llm.requests)
        await fakes.asr.say(RecognizedText(words, True, 0, 600, 0))
        record = await live.ended()
    assert record.speculative and len(fakes.llm.requests) == 1


def final_heard_with(text: str, confidence: float) -> list[object]:
    return [
        SpeechActivity(False, 600, 0),
        RecognizedText(text, True, 0, 600, 0, confidence=confidence),
    ]


async def test_a_doubtful_final_is_answered_afresh_with_its_confidence() -> None:
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("whether in climb it"))
        await until(lambda: fakes.llm.streams)  # speculation prepared without a confidence
        await fakes.asr.say(*final_heard_with("whether in climb it", 0.3))
        record = await live.ended()
    assert not record.speculative
    assert [r.input_confidence for r in fakes.llm.requests] == [None, pytest.approx(0.3)]
    assert turn_ids(live) == {record.turn_id}


async def test_a_confident_final_commits_the_speculation_and_typed_text_has_no_confidence() -> None:
    async with speculating() as live:
        fakes = live.fakes
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await until(lambda: fakes.llm.streams)
        await fakes.asr.say(*final_heard_with("what is photosynthesis", 0.9))
        record = await live.ended()
        assert record.speculative
        await live.text("and why")
        await live.ended(2)
    assert [r.input_confidence for r in fakes.llm.requests] == [None, None]


class StubbornLlm(FakeLlm):
    """The first call ignores its first cancellation and goes on waiting, as an upstream call
    might that does not end when cancelled (it gives in to a second one); later calls answer."""

    async def generate(self, request):  # type: ignore[no-untyped-def]
        if self.requests:
            return await super().generate(request)
        self.requests.append(request)

        async def tokens():  # type: ignore[no-untyped-def]
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(3600)  # the first cancellation is ignored
            yield TokenText("never")

        stream = FakeStream("llm", tokens())
        self.streams.append(stream)
        return stream


async def test_a_discarded_turn_that_ignores_its_cancellation_does_not_stop_the_conversation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turn_handle, "STOP_WAIT_S", 0.05)
    fakes = FakeUpstreams(llm=StubbornLlm())
    settings = unit_settings(speculation_stable_ms=STABLE_MS)
    async with LiveConversation(fakes, settings, options()) as live:
        await live.audio(700)
        await fakes.asr.say(SpeechActivity(True, 0, 0), interim("what is photosynthesis"))
        await until(lambda: fakes.llm.streams)  # prepared, hidden, and stuck
        # A changed interim discards it; its task does not end, and the stream goes on: the
        # final transcript still reaches the client.
        await fakes.asr.say(interim("what is the water cycle"), *final("what is the water cycle"))
        await until(lambda: bool(live.finals()))
    assert live.finals()[0].text == "what is the water cycle"
