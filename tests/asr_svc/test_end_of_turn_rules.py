"""End of turn without the model: the features it hears, the word rule, the endpointer's pauses."""

from __future__ import annotations

import numpy as np
import pytest

from asr_svc.end_of_turn import (
    LIKELY_END,
    UNLIKELY_END,
    TurnJudge,
    TurnVerdict,
    doubtful_by_words,
    fronted_object,
    unfinished_by_words,
)
from asr_svc.endpointing import Endpointer, EndpointingOptions, SpeechOffset, SpeechPause
from asr_svc.events import EndOfTurnReason
from asr_svc.sentence_end import SentenceEndModel
from asr_svc.whisper_features import log_mel
from tests.support.speech import espeak_pcm

pytestmark = pytest.mark.unit

W = 512  # samples per VAD window (32 ms)


@pytest.mark.parametrize("seconds", [8.0, 3.2])
def test_log_mel_matches_the_whisper_feature_extractor(seconds):
    transformers = pytest.importorskip("transformers")
    speech = np.frombuffer(espeak_pcm("why is the sky blue"), dtype="<i2") / 32768.0
    audio = np.zeros(int(seconds * 16000), dtype=np.float32)
    audio[-len(speech) - 4000 : -4000] = speech
    extractor = transformers.WhisperFeatureExtractor(
        feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=8, n_fft=400
    )
    expected = extractor(
        audio,
        sampling_rate=16000,
        padding="max_length",
        max_length=128000,
        truncation=True,
        do_normalize=True,
        return_tensors="np",
    ).input_features[0]
    ours = log_mel(audio, frames=800)
    assert ours.shape == expected.shape == (80, 800)
    np.testing.assert_allclose(ours, expected, atol=2e-4)


@pytest.mark.parametrize("samples", [0, 150, 201, 360, 16_000, 127_999, 128_000, 200_000])
def test_front_padded_features_equal_those_of_the_padded_waveform(samples):
    # Smart Turn hears short utterances padded with silence in front; the padding's frames
    # are computed once and copied, which must change nothing.
    audio = np.random.default_rng(samples).normal(0, 0.1, samples).astype(np.float32)
    padded = np.pad(audio[-128_000:], (128_000 - min(samples, 128_000), 0))
    np.testing.assert_allclose(
        log_mel(audio, frames=800, pad_front=True), log_mel(padded, frames=800), atol=1e-5
    )


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("what is the difference between", True),
        ("tell me about THE", True),
        ("how do plants make their", True),
        ("is it a fruit or", True),
        ("what is it made of", False),  # prepositions may end a question
        # A short word the recognizer heard in the pause's hiss does not finish the sentence.
        ("what is the difference between of", True),
        ("how do plants make their are", True),
        ("what is the difference between them", False),
        ("why is the sky blue", False),
        # An auxiliary question that stops after its subject still needs its verb...
        ("how does photosynthesis", True),
        ("why do the leaves", True),
        ("can volcanoes", True),
        ("how does photosynthesis work", False),
        # ...but a pronoun subject ends elliptic questions, and "who" is a subject itself.
        ("why should i", False),
        ("who did it", False),
        ("so do i", False),
        ("", False),
    ],
)
def test_words_a_sentence_cannot_end_on(text, unfinished):
    assert unfinished_by_words(text) is unfinished


def test_the_word_rule_is_english_only():
    assert not unfinished_by_words("what is the difference between", "de")
    assert not doubtful_by_words("tell me about", "de")


@pytest.mark.parametrize(
    ("text", "doubtful"),
    [
        # A stranded preposition with nothing to strand it, or an opening question word.
        ("tell me about", True),
        ("can you tell me more about", True),
        ("i want to learn about", True),
        ("can you explain how", True),
        ("do you know why", True),
        # A question word before the preposition strands it; particles end sentences.
        ("what is it made of", False),
        ("where are you from", False),
        ("what is resistance measured in", False),
        ("what is glucose used for", False),
        ("can you turn it on", False),
        ("is the war over", False),
        # One word, or finished questions.
        ("why", False),
        ("what is photosynthesis", False),
        # A subordinate clause that stops at its verb: its object mostly follows.
        ("what happens when you mix", True),
        ("what happens if we add", True),
        ("what happens when you mix paint", False),
        ("why do we sleep", False),
        # An auxiliary's pronoun subject with no verb yet: mostly the verb follows.
        ("how long does it", True),
        ("why can't they", True),
        ("do you", True),
        ("how long does it take", False),
        ("how is it", False),
        ("what is it", False),
        # A two-object verb stopped after the person.
        ("can you tell me", True),
        ("show us", True),
        ("can you help me", False),
        # A subordinate clause stopped before its subject.
        ("what would happen if", True),
        ("what would happen if the sun disappeared", False),
    ],
)
def test_words_a_speaker_mostly_pauses_on(text, doubtful):
    assert doubtful_by_words(text) is doubtful


def test_doubtful_words_hold_a_pause_the_model_calls_complete_for_the_short_hold():
    judge = TurnJudge.load()  # the verdict from a given probability: no inference
    doubtful = judge.verdict(0.99, "tell me about")
    assert (doubtful.complete, doubtful.unfinished_words, doubtful.doubtful_words) == (
        False,
        False,
        True,
    )
    # The endpointer gives a pause with this verdict the model's hold, not the whole limit.
    endpointer = Endpointer(_smart(turn_model_hold_ms=1_000, turn_max_silence_ms=2_500))
    index, _ = _speak_then_silence(endpointer, 20, 100)
    assert endpointer.resolve(doubtful) is None
    ended = _speak_then_silence(endpointer, 0, 200, start=index + 1)
    assert ended is not None
    at, offset = ended
    assert isinstance(offset, SpeechOffset)
    assert offset.reason is EndOfTurnReason.SILENCE_LIMIT
    assert (at + 1 - 20) * W == pytest.approx(16 * 1_000, abs=W)  # 1 s of silence
    assert judge.verdict(0.99, "what is it made of").complete is True


@pytest.fixture(scope="module")
def judge() -> TurnJudge:
    """The judge with its sentence-end model; verdicts from given probabilities (no inference)."""
    loaded = TurnJudge.load()
    assert loaded.sentence_ends is not None
    return loaded


@pytest.mark.parametrize(
    "text",
    ["what is an atom", "how do vaccines work", "who invented the telephone", "what causes rain"],
)
def test_finished_questions_read_finished(judge, text):
    end = judge.sentence_end(text)
    assert end is not None and end >= LIKELY_END


@pytest.mark.parametrize(
    "text", ["what are", "what is the biggest", "how many", "who was the first", "what kind of"]
)
def test_places_students_stop_to_think_read_unfinished(judge, text):
    end = judge.sentence_end(text)
    assert end is not None and end < UNLIKELY_END


def test_an_unknown_last_word_or_another_language_has_no_sentence_end(judge):
    assert judge.sentence_end("what is zorblaxian") is None
    assert judge.sentence_end("what is an atom", language="fr") is None
    assert judge.sentence_end("") is None
    assert TurnJudge(judge.model).sentence_end("what is an atom") is None  # no model loaded


def test_a_missing_sentence_end_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no English n-gram model"):
        SentenceEndModel(tmp_path / "absent.lm.bin")


def test_words_that_read_finished_end_the_turn_the_model_doubts(judge):
    verdict = judge.verdict(0.07, "how do magnets work")
    assert verdict.complete is True
    assert verdict.sentence_end is not None and verdict.sentence_end >= LIKELY_END
    # Without the sentence-end model the doubt holds the turn (the model's short hold).
    assert TurnJudge(judge.model).verdict(0.07, "how do magnets work").complete is False


def test_words_that_read_unfinished_hold_a_turn_the_model_calls_complete(judge):
    verdict = judge.verdict(0.97, "what is the biggest")
    assert (verdict.complete, verdict.unfinished_words, verdict.doubtful_words) == (
        False,
        False,
        True,
    )


@pytest.mark.parametrize(
    ("text", "fronted"),
    [
        ("how many legs does a spider have", True),
        ("what do bees make", True),
        ("which planet did galileo see", True),
        ("why do we have", False),  # "why" is no object
        ("what is the biggest", False),  # no auxiliary with a verb after its subject
        ("what do", False),
    ],
)
def test_questions_whose_object_comes_first(text, fronted):
    assert fronted_object(text) is fronted


def test_a_question_that_fronts_its_object_may_end_on_its_verb(judge):
    # Running text rarely ends on "have", but this question does.
    text = "how many legs does a spider have"
    end = judge.sentence_end(text)
    assert end is not None and end < UNLIKELY_END
    assert judge.verdict(0.9, text).complete is True
    assert judge.verdict(0.9, "why do we have").complete is False


def test_words_alone_give_a_verdict_only_where_they_settle_it(judge):
    # For a pause the busy model cannot hear: no probability in the verdict.
    finished = judge.words_verdict("what is photosynthesis")
    assert finished is not None and (finished.complete, finished.probability) == (True, None)
    unfinished = judge.words_verdict("what is the difference between")
    assert unfinished is not None and (unfinished.complete, unfinished.unfinished_words) == (
        False,
        True,
    )
    assert judge.words_verdict("what do bees do") is None  # the model's call


def test_between_the_two_bounds_the_model_decides(judge):
    # "what do bees do" scores between: neither finished nor unfinished by its words.
    end = judge.sentence_end("what do bees do")
    assert end is not None and UNLIKELY_END <= end < LIKELY_END
    assert judge.verdict(0.9, "what do bees do").complete is True
    assert judge.verdict(0.3, "what do bees do").complete is False


def _smart(**overrides: int) -> EndpointingOptions:
    options = {"min_speech_ms": 64, "min_silence_ms": 500, "turn_pause_ms": 160}
    options.update(overrides)
    return EndpointingOptions(end_of_turn="smart_turn", **options)  # type: ignore[arg-type]


def _speak_then_silence(endpointer: Endpointer, speech: int, silence: int, start: int = 0):
    """Steps speech windows then silent ones; returns (window index, decision) of the first
    decision in the silence."""
    for index in range(start, start + speech):
        endpointer.step(0.9, index * W, (index + 1) * W)
    for index in range(start + speech, start + speech + silence):
        decision = endpointer.step(0.0, index * W, (index + 1) * W)
        if isinstance(decision, SpeechPause | SpeechOffset):
            return index, decision
    return None


def test_a_pause_judged_complete_ends_the_utterance_where_the_silence_began():
    endpointer = Endpointer(_smart())
    index, pause = _speak_then_silence(endpointer, 20, 100)
    # 160 ms = 5 windows of silence from window 20.
    assert (index, pause) == (24, SpeechPause(20 * W))
    with pytest.raises(RuntimeError):
        endpointer.step(0.0, 25 * W, 26 * W)  # no window before the verdict
    offset = endpointer.resolve(TurnVerdict(complete=True, probability=0.91))
    assert offset == SpeechOffset(20 * W, reason=EndOfTurnReason.TURN_COMPLETE, probability=0.91)
    assert not endpointer.speaking


def test_a_pause_only_the_model_doubts_waits_turn_model_hold_ms():
    endpointer = Endpointer(_smart(turn_max_silence_ms=2500, turn_model_hold_ms=1000))
    assert _speak_then_silence(endpointer, 20, 100) is not None
    assert endpointer.resolve(TurnVerdict(complete=False, probability=0.2)) is None
    decisions = [(i, endpointer.step(0.0, i * W, (i + 1) * W)) for i in range(25, 120)]
    ends = [(i, d) for i, d in decisions if d is not None]
    # 1000 ms = 31.25 windows of silence from window 20: ends in window 51, reporting the
    # probability of the verdict that held it.
    assert ends == [
        (51, SpeechOffset(20 * W, reason=EndOfTurnReason.SILENCE_LIMIT, probability=0.2))
    ]


def test_speech_after_an_unfinished_pause_continues_the_utterance_and_is_judged_again():
    endpointer = Endpointer(_smart())
    assert _speak_then_silence(endpointer, 20, 100) is not None
    assert endpointer.resolve(TurnVerdict(complete=False, probability=0.1)) is None
    # 700 ms of thinking (22 windows), then speech again and a second pause.
    for index in range(25, 42):
        assert endpointer.step(0.0, index * W, (index + 1) * W) is None
    index, second = _speak_then_silence(endpointer, 15, 100, start=42)
    assert second == SpeechPause(57 * W)
    offset = endpointer.resolve(TurnVerdict(complete=True, probability=0.8))
    assert offset is not None and offset.end_sample == 57 * W


def test_a_pause_held_by_its_words_is_judged_again_after_the_silence_rules_wait():
    # The recognizer's hypothesis may lag the audio by its last word ("... make their" for
    # "... make their food"): judged again at min_silence_ms (500 ms = window 35), the turn
    # ends there when the words have caught up, where the silence began.
    endpointer = Endpointer(_smart(min_silence_ms=500, turn_max_silence_ms=2500))
    _speak_then_silence(endpointer, 20, 100)
    held = TurnVerdict(complete=False, probability=0.9, unfinished_words=True)
    assert endpointer.resolve(held) is None
    index, again = _speak_then_silence(endpointer, 0, 100, start=25)
    assert (index, again) == (35, SpeechPause(20 * W))
    offset = endpointer.resolve(TurnVerdict(complete=True, probability=0.93))
    assert offset == SpeechOffset(20 * W, reason=EndOfTurnReason.TURN_COMPLETE, probability=0.93)


def test_words_still_unfinished_at_the_second_look_wait_for_the_whole_silence_limit():
    endpointer = Endpointer(_smart(min_silence_ms=500, turn_max_silence_ms=2500))
    _speak_then_silence(endpointer, 20, 100)
    held = TurnVerdict(complete=False, probability=0.9, unfinished_words=True)
    assert endpointer.resolve(held) is None
    assert _speak_then_silence(endpointer, 0, 100, start=25) == (35, SpeechPause(20 * W))
    assert endpointer.resolve(held) is None  # a thinking pause: no third look
    decisions = [(i, endpointer.step(0.0, i * W, (i + 1) * W)) for i in range(36, 120)]
    assert [(i, d) for i, d in decisions if d is not None] == [
        (98, SpeechOffset(20 * W, reason=EndOfTurnReason.SILENCE_LIMIT, probability=0.9))
    ]


def test_words_caught_up_at_the_second_look_but_a_doubting_model_waits_the_model_hold():
    endpointer = Endpointer(_smart(min_silence_ms=500, turn_model_hold_ms=1000))
    _speak_then_silence(endpointer, 20, 100)
    assert endpointer.resolve(TurnVerdict(False, 0.9, unfinished_words=True)) is None
    assert _speak_then_silence(endpointer, 0, 100, start=25) == (35, SpeechPause(20 * W))
    assert endpointer.resolve(TurnVerdict(False, 0.3)) is None
    decisions = [(i, endpointer.step(0.0, i * W, (i + 1) * W)) for i in range(36, 120)]
    assert [(i, d) for i, d in decisions if d is not None] == [
        (51, SpeechOffset(20 * W, reason=EndOfTurnReason.SILENCE_LIMIT, probability=0.3))
    ]


def test_an_unjudged_pause_falls_back_to_the_silence_rule():
    endpointer = Endpointer(_smart(min_silence_ms=500))
    _speak_then_silence(endpointer, 20, 100)
    assert endpointer.resolve(TurnVerdict(complete=None)) is None
    ends = [
        (i, d) for i in range(25, 60) if (d := endpointer.step(0.0, i * W, (i + 1) * W)) is not None
    ]
    # 500 ms = 15.6 windows from window 20.
    assert ends == [(35, SpeechOffset(20 * W, reason=EndOfTurnReason.SILENCE))]


def test_the_silence_rule_never_pauses():
    endpointer = Endpointer(EndpointingOptions(min_speech_ms=64, min_silence_ms=300))
    index, decision = _speak_then_silence(endpointer, 20, 100)
    assert (index, decision) == (29, SpeechOffset(20 * W, reason=EndOfTurnReason.SILENCE))


def test_resolve_without_a_pause_is_an_error():
    with pytest.raises(RuntimeError):
        Endpointer(_smart()).resolve(TurnVerdict(complete=True))
