"""A tutor's question model (issue 15): only the questions its documents make, decoded beside
the tutor's broad model; the transcript a three-part sentence mixture prefers is the final."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from asr_svc.confidence import word_confidence
from asr_svc.engines.base import StreamSpec
from asr_svc.engines.pocketsphinx import QUESTION_CONFIDENCE
from asr_svc.language_model.corpus import TutorText, corpus_lines, question_lines
from asr_svc.language_model.sentence_choice import (
    QUESTION_SHARES,
    Candidate,
    SentenceMixture,
    log_mixture,
)
from tests.asr_svc.speech import decode_utterance, knowledge
from tests.support import spoken_questions

_DOCUMENT = "Magma rises through the crust. Tectonic plates move. Tectonic plates collide."


@pytest.mark.unit
def test_the_question_model_learns_only_questions_and_hints():
    text = TutorText(documents=(_DOCUMENT,), hints=("lava lamp",))
    lines = question_lines(text)
    assert "what is magma" in lines and "why does magma rise" in lines
    assert "can you explain tectonic plates" in lines
    assert "magma rises through the crust" not in lines  # a document's sentence
    assert "can you repeat that" not in lines  # everyday English
    assert lines.count("lava lamp") >= 3  # hints weigh here as in the tutor's model
    # The student's forms of the documents' questions (other tenses, the other number) are
    # the question model's own; the tutor's broad model learns the rest too, and more.
    assert "how did tectonic plates move" in lines and "how did magma rise" in lines
    broad = set(corpus_lines(text))
    assert "how did magma rise" not in broad
    assert len(set(lines) & broad) > len(set(lines)) / 2 and len(broad) > len(set(lines))
    assert {"what is magma", "why does magma rise", "can you explain tectonic plates"} <= broad


@pytest.mark.unit
def test_the_three_part_mixture_adds_its_shares():
    parts = ((0.2, math.log(0.01)), (0.5, math.log(0.1)), (0.3, math.log(0.001)))
    assert log_mixture(parts) == pytest.approx(math.log(0.2 * 0.01 + 0.5 * 0.1 + 0.3 * 0.001))
    # Far below floating point range, it still adds up; a share of 0 drops its part.
    assert log_mixture(((0.5, -3000.0), (0.5, -2000.0))) == pytest.approx(-2000 + math.log(0.5))
    assert log_mixture(((0.0, 0.0), (1.0, -5.0))) == pytest.approx(-5.0)
    assert sum(QUESTION_SHARES) == pytest.approx(1.0)


def _unigrams(words: dict[str, float], floor: float):  # type: ignore[no-untyped-def]
    def model(word: str, history: Sequence[str]) -> float:
        return words.get(word, floor)

    return model


@pytest.mark.unit
def test_with_equal_acoustics_the_likeliest_sentence_under_the_mixture_wins():
    # The tutor's broad model spreads itself over many words; its question model knows
    # "what is magma" sharply; the general model knows everyday English.
    tutor = _unigrams({"what": -1.5, "is": -1.5, "lot": -2.5, "magma": -2.5, "</s>": -1.0}, -4)
    questions = _unigrams({"what": -0.5, "is": -0.5, "magma": -0.7, "</s>": -0.3}, -8.0)
    general = _unigrams({"what": -1.5, "is": -1.5, "lot": -2.5, "time": -2.0, "</s>": -1}, -6)
    mixture = SentenceMixture(tutor, general, question_model=questions)
    heard_by_tutor = Candidate(("what", "is", "lot", "lot"), acoustic=-1000.0)
    heard_by_questions = Candidate(("what", "is", "magma"), acoustic=-1000.0)
    everyday = Candidate(("what", "time", "is", "it"), acoustic=-1000.0)
    assert mixture.best([heard_by_tutor, heard_by_questions]) == 1
    # Without the question model, the tutor's model alone rates the question lower.
    assert mixture.log_prob(heard_by_questions.words) > SentenceMixture(tutor, general).log_prob(
        heard_by_questions.words
    )
    # The question model's guess loses to what the acoustics heard far better.
    louder = Candidate(everyday.words, acoustic=-1000.0 + 1e4)
    assert mixture.best([heard_by_questions, louder]) == 1
    assert mixture.best([heard_by_questions, heard_by_questions]) == 0  # the first of equals


@pytest.mark.unit
def test_the_question_decoders_word_confidences_have_their_own_calibration():
    slope, intercept = QUESTION_CONFIDENCE
    for posterior in (0.1, 0.5, 0.9):
        logit = math.log(posterior / (1 - posterior))
        expected = 1 / (1 + math.exp(-(slope * logit + intercept)))
        assert word_confidence(posterior, slope, intercept) == pytest.approx(expected, abs=1e-4)
    # Its posteriors meant more on the dev split: the same posterior is a surer word.
    assert word_confidence(0.5, slope, intercept) > word_confidence(0.5)


@pytest.mark.integration
def test_only_a_tutor_with_documents_gets_a_question_model(pocketsphinx_alone, monkeypatch):
    engine = pocketsphinx_alone
    settings = engine._settings
    monkeypatch.setattr(engine, "_settings", settings.model_copy(update={"question_model": True}))
    spec = StreamSpec(knowledge=knowledge("magma", _DOCUMENT))
    questions, tutor = engine.question_model(spec), engine.tutor_model(spec)
    assert questions is not None and tutor is not None
    assert {"magma", "rise", "tectonic"} <= questions.vocabulary < tutor.vocabulary
    assert "dinner" not in questions.vocabulary  # no general English words
    assert engine.question_model(StreamSpec()) is None
    assert engine.question_model(StreamSpec(phrase_hints=("lava lamp",))) is None
    monkeypatch.setattr(engine, "_settings", settings.model_copy(update={"question_model": False}))
    # Not streamed, the question model still gives doubtful finals its second opinion...
    monkeypatch.setattr(engine, "_question_opinion", True)
    opinion = StreamSpec(knowledge=knowledge("magma-opinion", _DOCUMENT))
    assert engine.question_model(opinion) is not None
    # ... unless that is turned off too (ASR_QUESTION_OPINION=false).
    monkeypatch.setattr(engine, "_question_opinion", False)
    off = StreamSpec(knowledge=knowledge("magma-off", _DOCUMENT))
    assert engine.question_model(off) is None and engine.tutor_model(off) is not None
    # Whisper's rescoring weighs the question model's transcripts: with it, a tutor has one.
    monkeypatch.setattr(engine, "rescorer", object())
    rescored = StreamSpec(knowledge=knowledge("magma-rescored", _DOCUMENT))
    assert engine.question_model(rescored) is not None


@pytest.mark.integration
@pytest.mark.slow
def test_the_question_model_hears_questions_about_the_material_better(
    pocketsphinx_alone, monkeypatch
):
    docs = spoken_questions.documents("dev")
    settings = pocketsphinx_alone._settings
    warm = pocketsphinx_alone.channel_estimate
    heard: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    on_topic = [q for q in spoken_questions.questions("dev") if q.on_topic]
    # Streamed or not at all: not as a second opinion on doubtful finals (tested below).
    monkeypatch.setattr(pocketsphinx_alone, "_question_opinion", False)
    for enabled in (False, True):
        # Both passes start from the same channel estimate and fresh models and decoders.
        pocketsphinx_alone.reset_adaptation(warm)
        monkeypatch.setattr(
            pocketsphinx_alone,
            "_settings",
            settings.model_copy(update={"question_model": enabled}),
        )
        for question in on_topic[::2]:
            doc = question.document
            spec = StreamSpec(knowledge=knowledge(f"{doc}-{enabled}", docs[doc]))
            pcm = spoken_questions.noisy_pcm(question, 20.0, "white")
            heard[enabled].append(
                (question.text, decode_utterance(pocketsphinx_alone, spec, pcm).text)
            )
    with_questions = spoken_questions.word_error_rate(heard[True])
    without = spoken_questions.word_error_rate(heard[False])
    # Measured 0.34 -> 0.24 (every other on-topic question with white noise at 20 dB, 174
    # words: 18 errors fewer); half the gain must remain.
    words = sum(len(text.split()) for text, _ in heard[True])
    assert with_questions <= without - 9 / words, heard


@pytest.mark.integration
@pytest.mark.slow
def test_doubtful_questions_get_the_question_models_second_opinion(pocketsphinx_alone, monkeypatch):
    docs = spoken_questions.documents("dev")
    warm = pocketsphinx_alone.channel_estimate
    heard: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    on_topic = [q for q in spoken_questions.questions("dev") if q.on_topic]
    opinions = 0
    for enabled in (False, True):
        # Both passes start from the same channel estimate and fresh models and decoders.
        pocketsphinx_alone.reset_adaptation(warm)
        monkeypatch.setattr(pocketsphinx_alone, "_question_opinion", enabled)
        before = pocketsphinx_alone.question_opinions
        for question in on_topic:
            doc = question.document
            spec = StreamSpec(knowledge=knowledge(f"{doc}-opinion-{enabled}", docs[doc]))
            for pcm in (
                spoken_questions.clean_pcm(question),
                spoken_questions.noisy_pcm(question, 20.0, "white"),
            ):
                heard[enabled].append(
                    (question.text, decode_utterance(pocketsphinx_alone, spec, pcm).text)
                )
        opinions = pocketsphinx_alone.question_opinions - before
    with_opinion = spoken_questions.word_error_rate(heard[True])
    without = spoken_questions.word_error_rate(heard[False])
    # Measured 0.378 -> 0.284 (the on-topic questions, clean and with white noise at 20 dB,
    # 658 words: 62 errors fewer, 51 of 114 finals decoded again); half the gain must remain.
    words = sum(len(text.split()) for text, _ in heard[True])
    assert with_opinion <= without - 31 / words, heard
    # Only doubtful finals are decoded again.
    assert 0 < opinions < len(heard[True]), opinions
