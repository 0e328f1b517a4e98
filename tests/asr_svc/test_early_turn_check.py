"""The end-of-turn model hears a pause early (``turn_early_ms``), so a sure verdict is ready
when the pause is due (issue 19): the pipeline's early checks, the verdict it takes from one,
and the stream runner that runs them beside the stream. Real Smart Turn model, real
pocketsphinx, real Silero VAD.
"""

from __future__ import annotations

import asyncio

import pytest

from asr_svc.end_of_turn import TurnJudge
from asr_svc.endpointing import EndpointingOptions
from asr_svc.engines.base import StreamSpec
from asr_svc.events import EndOfTurnReason, RecognitionResult, SpeechEvent, SpeechEventKind
from asr_svc.pipeline import EarlyCheck, EarlyProbability, RecognitionPipeline
from asr_svc.vad import WINDOW_SAMPLES, SileroVad
from tests.asr_svc.turn_speech import PHRASE_HINTS, SPEAKERS, framed, run_stream
from tests.support.speech import chunks

pytestmark = pytest.mark.integration

QUESTION = "can you explain how the water cycle works"


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def _pipeline(
    engine, vad, judge, *, early_ms: int = 96, interim_results: bool = False
) -> RecognitionPipeline:
    return RecognitionPipeline(
        engine.open_stream(StreamSpec(phrase_hints=PHRASE_HINTS)),
        vad.stream(),
        EndpointingOptions(end_of_turn="smart_turn", turn_early_ms=early_ms),
        input_rate=16000,
        interim_results=interim_results,
        # Regular interim results held back: any interim after the speech is the early one.
        interim_interval_ms=10_000,
        incremental=True,
        turn_judge=judge,
    )


def _feed_to_the_pause(
    pipeline: RecognitionPipeline, pcm: bytes
) -> tuple[list[EarlyCheck], list[SpeechEvent]]:
    """Feeds 20 ms chunks until the first pause is due; the early checks taken on the way."""
    checks: list[EarlyCheck] = []
    events: list[SpeechEvent] = []
    for chunk in chunks(pcm, ms=20):
        events += [e for e in pipeline.feed(chunk) if isinstance(e, SpeechEvent)]
        check = pipeline.take_early_check()
        if check is not None:
            checks.append(check)
        if pipeline.turn_check_due:
            return checks, events
    raise AssertionError("no pause became due")


def _model_judge() -> TurnJudge:
    """The model alone: no sentence-end model, so finished words leave the verdict to it."""
    return TurnJudge(TurnJudge.load().model)


def _ended(events) -> list[SpeechEvent]:
    return [e for e in events if isinstance(e, SpeechEvent) and e.kind is SpeechEventKind.ENDED]


def test_a_pause_is_offered_once_early_with_the_audio_up_to_then(pocketsphinx_engine, vad):
    judge = _model_judge()
    pipeline = _pipeline(pocketsphinx_engine, vad, judge)
    try:
        (check,), _ = _feed_to_the_pause(pipeline, framed(SPEAKERS["espeak"](QUESTION)).pcm)
        assert pipeline.take_early_check() is None  # once per pause
        # Two VAD windows before the pause (96 of 160 ms), from the same start.
        audio, _words, silence_start = pipeline._pause  # type: ignore[misc]
        assert silence_start == check.silence_start
        assert len(audio) - len(check.audio) == 2 * WINDOW_SAMPLES
    finally:
        pipeline.close()


@pytest.mark.parametrize(
    ("probability", "same_pause", "inferences"),
    [(0.99, True, 0), (0.6, True, 1), (0.99, False, 1)],
    ids=["sure: no inference", "unsure: judged", "another pause: judged"],
)
def test_only_a_sure_early_probability_for_this_pause_spares_the_judgement(
    pocketsphinx_engine, vad, probability, same_pause, inferences
):
    judge = _model_judge()
    pipeline = _pipeline(pocketsphinx_engine, vad, judge)
    try:
        (check,), _ = _feed_to_the_pause(pipeline, framed(SPEAKERS["espeak"](QUESTION)).pcm)
        start = check.silence_start if same_pause else check.silence_start - WINDOW_SAMPLES
        early = EarlyProbability(start, probability)
        assert pipeline.early_is_sure(early) is (inferences == 0)
        events = pipeline.judge_turn(early=early)
        assert judge.calls == inferences
        if inferences == 0:
            # The early probability decided, and the ASR event reports it.
            (ended,) = _ended(events)
            assert ended.end_reason is EndOfTurnReason.TURN_COMPLETE
            assert ended.end_of_turn_probability == pytest.approx(probability)
    finally:
        pipeline.close()


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("what is photosynthesis", True),  # reads finished: complete, whatever p
        ("what is the difference between", False),  # unfinished: held, whatever p
        ("tell me about the", False),
    ],
    ids=["words read finished", "words read unfinished", "words end on 'the'"],
)
def test_words_that_decide_the_verdict_need_no_model_early_or_at_the_pause(
    pocketsphinx_engine, vad, text, ends
):
    judge = TurnJudge.load()
    assert judge.sentence_ends is not None
    pipeline = _pipeline(pocketsphinx_engine, vad, judge, interim_results=True)
    try:
        checks, _ = _feed_to_the_pause(pipeline, framed(SPEAKERS["espeak"](text)).pcm)
        _audio, words, _start = pipeline._pause  # type: ignore[misc]
        assert words == text
        assert checks == []  # nothing for the model to hear early
        assert pipeline.words_decide()
        # Even an early probability that says the opposite does not change their verdict.
        contrary = EarlyProbability(pipeline._pause[2], 0.01 if ends else 0.99)  # type: ignore[index]
        events = pipeline.judge_turn(early=contrary)
        assert judge.calls == 0
        if ends:
            (ended,) = _ended(events)
            assert ended.end_reason is EndOfTurnReason.TURN_COMPLETE
            assert ended.end_of_turn_probability is None  # no model heard it
        else:
            assert _ended(events) == []
    finally:
        pipeline.close()


def test_words_that_leave_the_verdict_open_get_the_model_early_and_its_sure_verdict(
    pocketsphinx_engine, vad
):
    judge = TurnJudge.load()
    text = "what is the difference between a plant cell and an animal cell"
    pipeline = _pipeline(pocketsphinx_engine, vad, judge)
    try:
        (check,), _ = _feed_to_the_pause(pipeline, framed(SPEAKERS["espeak"](text)).pcm)
        assert not pipeline.words_decide()
        unsure = EarlyProbability(check.silence_start, 0.3)
        assert not pipeline.early_is_sure(unsure)
        events = pipeline.judge_turn(early=unsure)
        assert judge.calls == 1  # the model's own verdict, from its inference at the pause
        assert all(e.end_of_turn_probability >= judge.threshold for e in _ended(events))
    finally:
        pipeline.close()


def test_the_words_so_far_go_out_at_the_early_check(pocketsphinx_engine, vad):
    # The gateway starts its speculative answer on them: 64 ms sooner than at the pause.
    judge = _model_judge()
    pipeline = _pipeline(pocketsphinx_engine, vad, judge, interim_results=True)
    try:
        spoken = framed(SPEAKERS["espeak"](QUESTION))
        events = []
        check = None
        for chunk in chunks(spoken.pcm, ms=20):
            events += pipeline.feed(chunk)
            check = check or pipeline.take_early_check()
            if check is not None:
                break
        assert check is not None and not pipeline.turn_check_due  # before the pause
        interims = [e for e in events if isinstance(e, RecognitionResult) and not e.is_final]
        (interim,) = interims
        assert interim.transcript and interim.transcript == pipeline._pause_words()
    finally:
        pipeline.close()


def test_early_checks_are_off_with_the_silence_rule_or_when_set_to_zero(pocketsphinx_engine, vad):
    judge = TurnJudge.load()
    pcm = framed(SPEAKERS["espeak"](QUESTION)).pcm
    pipeline = _pipeline(pocketsphinx_engine, vad, judge, early_ms=0)
    try:
        checks, _ = _feed_to_the_pause(pipeline, pcm)
        assert checks == []
    finally:
        pipeline.close()
    silence = RecognitionPipeline(
        pocketsphinx_engine.open_stream(StreamSpec(phrase_hints=PHRASE_HINTS)),
        vad.stream(),
        EndpointingOptions(end_of_turn="silence"),
        input_rate=16000,
        interim_results=False,
        interim_interval_ms=200,
        incremental=True,
        turn_judge=judge,
    )
    try:
        for chunk in chunks(pcm, ms=20):
            silence.feed(chunk)
            assert silence.take_early_check() is None
            if silence.final_due:
                silence.finalize()
    finally:
        silence.close()


async def _run(engine, judge: TurnJudge, pcm: bytes) -> list[SpeechEvent]:
    pipeline = _pipeline(engine, SileroVad(), judge)
    events = await run_stream(
        pipeline, pcm, turn_slots=asyncio.Semaphore(2), turn_wait_s=0.3, real_time=True
    )
    return _ended(events)


async def test_the_runner_ends_a_sure_pause_on_its_early_judgement(pocketsphinx_engine):
    judge = _model_judge()
    spoken = framed(SPEAKERS["espeak"](QUESTION))
    # The model is sure of this question's end two windows early (p ~0.96); the pause then
    # needs no judgement of its own: one inference for the whole turn.
    (ended,) = await _run(pocketsphinx_engine, judge, spoken.pcm)
    assert ended.end_reason is EndOfTurnReason.TURN_COMPLETE
    assert ended.end_of_turn_probability is not None
    assert ended.end_of_turn_probability >= judge.early_threshold
    assert judge.calls == 1


async def test_the_runner_ends_a_question_whose_words_read_finished_with_no_inference(
    pocketsphinx_engine,
):
    judge = TurnJudge.load()
    spoken = framed(SPEAKERS["espeak"](QUESTION))
    (ended,) = await _run(pocketsphinx_engine, judge, spoken.pcm)
    assert ended.end_reason is EndOfTurnReason.TURN_COMPLETE
    assert ended.end_of_turn_probability is None
    assert judge.calls == 0
