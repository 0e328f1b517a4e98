"""TextSegmenter: sentences and clauses from text that arrives in arbitrary pieces."""

from __future__ import annotations

import pytest

from tests.tts_svc.conftest import tokens_of
from tts_svc.segmenter import TextSegmenter, spoken_text

pytestmark = pytest.mark.unit

FEEDS = {
    "whole": lambda text: [text],
    "chars": lambda text: list(text),
    "pairs": lambda text: [text[i : i + 2] for i in range(0, len(text), 2)],
    "sevens": lambda text: [text[i : i + 7] for i in range(0, len(text), 7)],
    "tokens": tokens_of,
}


def segment(text: str, feed: str = "chars", **options: int) -> tuple[list[str], list[str]]:
    """(segments cut while the text arrived, segments only the final flush produced)."""
    segmenter = TextSegmenter(**options)
    cut: list[str] = []
    for piece in FEEDS[feed](text):
        cut += segmenter.push(piece)
    return cut, segmenter.flush()


def all_segments(text: str, feed: str = "chars", **options: int) -> list[str]:
    cut, rest = segment(text, feed, **options)
    return cut + rest


@pytest.mark.parametrize("feed", list(FEEDS))
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("I met Dr. Smith today. He was well.", ["I met Dr. Smith today.", "He was well."]),
        ("Use a fruit, e.g. an apple. Then eat.", ["Use a fruit, e.g. an apple.", "Then eat."]),
        ("Pi is about 3.14 today. Yes.", ["Pi is about 3.14 today.", "Yes."]),
        ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
        ("The U.S. government agreed. Good.", ["The U.S. government agreed.", "Good."]),
        ("I moved to the U.S. Then it rained.", ["I moved to the U.S.", "Then it rained."]),
        ("Apples, pears, etc. are fruit. Yes.", ["Apples, pears, etc. are fruit.", "Yes."]),
        ('She said "stop." Then he left.', ['She said "stop."', "Then he left."]),
        ("Really?! Wow.", ["Really?!", "Wow."]),
        ("It costs 1,000 dollars at 10:30 today.", ["It costs 1,000 dollars at 10:30 today."]),
        ("Steps:\n1. Open it.\n2. Close it.", ["Steps:", "1. Open it.", "2. Close it."]),
        ("A well-known fact. Yes.", ["A well-known fact.", "Yes."]),
    ],
)
def test_sentences_and_what_does_not_end_them(text: str, expected: list[str], feed: str) -> None:
    assert all_segments(text, feed) == expected


@pytest.mark.parametrize("feed", list(FEEDS))
def test_clause_boundary_cuts_only_after_enough_words(feed: str) -> None:
    text = (
        "Yes, that is right. When you add fractions with different denominators, you first "
        "find a common denominator; then you add the numerators: that is all - really."
    )
    assert all_segments(text, feed, min_clause_words=6) == [
        "Yes, that is right.",
        "When you add fractions with different denominators,",
        "you first find a common denominator;",
        "then you add the numerators: that is all -",  # 5 words at ":", 8 at " - "
        "really.",
    ]


def test_dashes_cut_clauses() -> None:
    text = "The answer is quite simple and clear — it is four – or so we think."
    assert all_segments(text, min_clause_words=5) == [
        "The answer is quite simple and clear —",
        "it is four – or so we think.",
    ]


def test_min_clause_words_is_configurable() -> None:
    text = "Well, now, let us see."
    assert all_segments(text, min_clause_words=1) == ["Well,", "now,", "let us see."]
    assert all_segments(text, min_clause_words=6) == ["Well, now, let us see."]


def test_a_segment_is_returned_as_soon_as_the_next_character_decides_it() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("Hello world") == []
    assert segmenter.push(".") == []  # "world.com" or "world. Next"? Not yet known.
    assert segmenter.push(" ") == ["Hello world."]
    assert segmenter.push("Pi is 3") == []
    assert segmenter.push(".") == []
    assert segmenter.push("14") == []  # a decimal, not a sentence end
    assert segmenter.push(" ok? ") == ["Pi is 3.14 ok?"]
    assert segmenter.pending == ""


def test_dotted_acronym_waits_for_the_next_word() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("I live in the U.S. ") == []
    assert segmenter.push("t") == []  # lower case: the sentence goes on
    assert segmenter.push("oday. ") == ["I live in the U.S. today."]
    assert segmenter.push("Back in the U.S. ") == []
    assert segmenter.push("W") == ["Back in the U.S."]
    assert segmenter.pending == "W"


def test_flush_ends_pending_text_and_keeps_nothing() -> None:
    segmenter = TextSegmenter()
    assert segmenter.push("Half a sentence") == []
    assert segmenter.flush() == ["Half a sentence"]
    assert segmenter.flush() == []
    assert segmenter.push(" and more.") == []
    assert segmenter.flush() == ["and more."]


def test_punctuation_alone_makes_no_segment() -> None:
    assert all_segments("Hi. ... !? Bye.") == ["Hi.", "Bye."]


def test_run_on_text_is_cut_at_a_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    segments = all_segments(words, "sevens", max_segment_chars=100)
    assert all(len(s) <= 100 for s in segments)
    assert " ".join(segments) == words  # no word split or lost
    assert len(segments) > 5


def test_markdown_marks_are_not_spoken() -> None:
    assert all_segments("This is **very** `important`. # Title\n") == [
        "This is very important.",
        "Title",
    ]
    assert spoken_text("  snake_case   _stays_ ") == "snake_case stays"


def test_list_number_is_not_a_sentence() -> None:
    assert all_segments("1. First point. 2. Second point.") == [
        "1. First point.",
        "2. Second point.",
    ]


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        TextSegmenter(min_clause_words=0)
    with pytest.raises(ValueError):
        TextSegmenter(max_segment_chars=5)


def test_the_first_clause_is_cut_sooner() -> None:
    text = "To add them, you first find a common denominator, then add the tops, and done."
    assert all_segments(text, "tokens", min_clause_words=6, first_clause_words=3) == [
        "To add them,",
        "you first find a common denominator,",
        "then add the tops, and done.",
    ]
    # Without the option the first clause waits like every other.
    assert all_segments(text, "tokens", min_clause_words=6)[0] == (
        "To add them, you first find a common denominator,"
    )
