"""The text side of a tutor's language model (issue 15): questions made of the documents'
clauses, and the Kneser-Ney trigram model they are counted into."""

from __future__ import annotations

import pytest

from asr_svc.language_model.corpus import TutorText, corpus_lines
from asr_svc.language_model.general_mix import _read_arpa, _tutor_prob
from asr_svc.language_model.kneser_ney import kneser_ney_arpa
from asr_svc.language_model.questions import clause_questions, clauses
from asr_svc.language_model.words import phrase_words

pytestmark = pytest.mark.unit

_WORDS = "found rise erupt move carry build pump improve volcano volcanoes plate plates"
_KNOWN = frozenset(_WORDS.split())


def test_a_document_is_cut_into_clauses_at_punctuation_and_clause_words():
    text = "As the magma rises, the pressure drops. The heart, which pumps blood, is a muscle."
    assert list(clauses(text)) == [
        ["as", "the", "magma", "rises"],
        ["the", "pressure", "drops"],
        ["the", "heart"],
        ["which", "pumps", "blood"],
        ["is", "a", "muscle"],
    ]


def test_clauses_become_the_questions_english_grammar_makes_of_them():
    questions = set(
        clause_questions(
            [
                "The city was founded by two brothers. As the magma rises, the pressure drops. "
                "Aqueducts carried water to the towns. Volcanoes erupt violently. "
                "The engineer improved the engine, which pumped water out of mines."
            ],
            _KNOWN.__contains__,
        )
    )
    # Passive -> active subject question, and the inverted passive.
    assert {"who founded the city", "when was the city founded", "was the city founded"} <= (
        questions
    )
    # do-support with the verb's base form, whole and cut after the first phrase.
    assert {"why does the magma rise", "how did aqueducts carry water to the towns"} <= questions
    assert "how did aqueducts carry water" in questions
    # A plural subject's bare verb; the subject question keeps the verb's own form.
    assert {"why do volcanoes erupt", "who improved the engine", "what pumped water"} <= questions
    # Noun phrases are asked about.
    assert {"what is the engine", "what are towns"} <= questions
    # Nothing is made of a lone clause word or a clause opened by a preposition.
    assert not any(q.startswith(("why does which", "why does out of")) for q in questions)


def test_without_a_dictionary_the_first_spelling_of_a_base_form_is_used():
    assert "why did the workers build it" in clause_questions(["The workers built it."])
    assert "how did the company hire them" in clause_questions(["The company hired them."])


def test_a_past_tense_gets_the_base_form_english_spelling_allows():
    # Both spellings are words here (as "linke" and "cal" are names in the dictionary): the
    # base form is picked by the spelling, not by which one the dictionary happens to know.
    known = frozenset(
        [
            "link",
            "linke",
            "call",
            "cal",
            "pass",
            "passe",
            "change",
            "chang",
            "stop",
            "stope",
            "solve",
            "solv",
        ]
    )
    text = (
        "Railways linked the towns. People called the doctor. The train passed the mill. "
        "The climate changed slowly. The workers stopped the pumps. Chemists solved it."
    )
    questions = set(clause_questions([text], known.__contains__))
    assert {
        "how did railways link the towns",
        "why did people call the doctor",
        "when did the train pass the mill",
        "why did the climate change slowly",
        "why did the workers stop the pumps",
        "how did chemists solve it",
    } <= questions


def test_student_forms_ask_in_the_other_tense_actively_and_in_the_other_number():
    known = frozenset(["form", "cloud", "clouds", "volcano", "volcanoes", "rise", "drive"])
    text = (
        "Shield volcanoes are formed by runny lava. Clouds form high up. "
        "The Solar System formed from gas. Mars is called the red planet. Rain falls from a cloud."
    )
    plain = set(clause_questions([text], known.__contains__))
    asked = set(clause_questions([text], known.__contains__, student_forms=True))
    assert plain < asked
    student = {
        "how do shield volcanoes form",  # the passive asked actively, now and in the past
        "how did shield volcanoes form",
        "how did clouds form",  # the present asked in the past ...
        "how does the solar system form",  # ... and the past in the present
        "what is a shield volcano",  # the other grammatical number
        "what are clouds",
    }
    assert student <= asked - plain
    # A name is asked about as the document gives it, not as a deed: no "why did mars call".
    assert not any(" mars call " in f"{line} " for line in asked)
    # Without the dictionary, no number is guessed.
    assert "what is a shield volcano" not in set(clause_questions([text], student_forms=True))


def test_the_corpus_has_clause_questions_and_key_terms_in_both_numbers():
    document = "Volcanoes erupt when magma rises. A volcano has a crater. Volcanoes are hot."
    lines = corpus_lines(TutorText(documents=(document,)), _KNOWN.__contains__)
    assert "why do volcanoes erupt" in lines
    assert "what are volcanoes" in lines and "what is a volcano" in lines


def test_key_term_questions_take_the_article_their_term_does():
    document = "An aquifer holds water. A conductor carries current. An insulator does not."
    lines = corpus_lines(TutorText(documents=(document,)))
    assert "what is an aquifer" in lines and "what is a conductor" in lines
    assert "what is the difference between a conductor and an insulator" in lines
    assert not any(" a aquifer" in line or " a insulator" in line for line in lines)


def _probabilities(arpa: str, history: tuple[str, ...], words: set[str]) -> dict[str, float]:
    model = _read_arpa(arpa)
    return {word: _tutor_prob(model, (*history, word)) for word in words}


def test_kneser_ney_gives_each_history_a_whole_distribution():
    lines = ["what is magma", "magma rises slowly", "what is lava", "lava flows", "what is it"]
    arpa = kneser_ney_arpa(lines * 2 + ["why does magma rise"])
    words = {w for line in lines for w in line.split()} | {"why", "does", "rise", "</s>"}
    for history in [(), ("<s>",), ("is",), ("what", "is"), ("<s>", "what"), ("magma", "rises")]:
        assert sum(_probabilities(arpa, history, words).values()) == pytest.approx(1, abs=1e-3)


def test_kneser_ney_backs_off_to_how_many_words_a_word_follows():
    # "what" is the commonest word but follows only <s>; "magma" follows many words.
    lines = [f"what is {x}" for x in "abcdefghijkl"]
    lines += ["hot magma", "the magma", "red magma", "some magma"]
    arpa = kneser_ney_arpa(lines)
    unseen_history = _probabilities(arpa, ("lava",), {"what", "magma"})
    assert unseen_history["magma"] > 2 * unseen_history["what"]
    assert _probabilities(arpa, ("<s>",), {"what"})["what"] > 0.6
    # A line written out many times (a hint) weighs that much at every order.
    hinted = kneser_ney_arpa([*lines, *["the cell divides"] * 20])
    once = kneser_ney_arpa([*lines, "the cell divides"])
    for history in [("lava",), ("<s>",)]:
        weighted = _probabilities(hinted, history, {"the"})["the"]
        assert weighted > 3 * _probabilities(once, history, {"the"})["the"]


def test_numbers_in_documents_are_spelled_as_students_say_them():
    def spoken(text: str) -> str:
        return " ".join(phrase_words(text))

    assert spoken("In the 1770s, by 1840; 1905, 1900, 2008 and 2024.") == (
        "in the seventeen seventies by eighteen forty nineteen oh five nineteen hundred "
        "two thousand eight and twenty twenty four"
    )
    assert spoken("the 19th century, the 1st, 2nd, 3rd, 12th and 21st") == (
        "the nineteenth century the first second third twelfth and twenty first"
    )
    assert spoken("10,000 people, 4.5 km, 56% of 2,500,000 in the 80's") == (
        "ten thousand people four point five km fifty six percent of two million five "
        "hundred thousand in the eighties"
    )
    # Numbers outside the years' range are numbers; very long ones are read digit by digit.
    assert spoken("room 101 and 3000 rooms") == "room one hundred one and three thousand rooms"
    assert spoken("code 12345678901234").startswith("code one two three four")
