"""Splitting documents into passages, search terms, and the word pieces answers stream in."""

from __future__ import annotations

import pytest

from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import MAX_PASSAGE_CHARS, Document, split_into_passages
from llm_svc.word_pieces import cut_at_stop, word_pieces

pytestmark = pytest.mark.unit


def test_paragraphs_become_passages_and_headings_name_their_section():
    text = (
        "# Intro\n\nPlants are green.\nThey grow\ntoward light.\n\n"
        "## Roots\nRoots drink water.\n\n\n\nRoots hold soil."
    )
    passages = split_into_passages(Document("bio", "Biology", text))
    assert [(p.index, p.section, p.text) for p in passages] == [
        (0, "Intro", "Plants are green. They grow toward light."),
        (1, "Roots", "Roots drink water."),
        (2, "Roots", "Roots hold soil."),
    ]
    assert {p.document_id for p in passages} == {"bio"}
    assert {p.title for p in passages} == {"Biology"}


def test_the_title_is_searched_with_the_opening_passage_only():
    first, second = split_into_passages(Document("d", "Volcanoes", "One.\n\nTwo."))
    assert "Volcanoes" in first.search_text
    assert "Volcanoes" not in second.search_text


def test_long_paragraphs_are_cut_into_windows_of_whole_sentences():
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(30)]
    passages = split_into_passages(Document("d", "t", " ".join(sentences)), max_words=20)
    # 7 words per sentence, at most 20 per window: two sentences each.
    assert [len(p.text.split()) for p in passages] == [14] * 15
    assert " ".join(p.text for p in passages) == " ".join(sentences)
    assert all(p.text.endswith(".") for p in passages)


def test_sentence_ends_keep_their_closing_quotes():
    text = 'He said "stop." Then he left! Did he? ' * 10
    passages = split_into_passages(Document("d", "t", text), max_words=6)
    assert passages[0].text == 'He said "stop." Then he left!'


def test_no_passage_exceeds_the_citation_limit_even_without_spaces():
    blob = "x" * 2500
    text = f"{blob} and then {'word ' * 400}"
    passages = split_into_passages(Document("d", "t", text), max_words=150)
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)
    assert "".join(p.text.replace(" ", "") for p in passages) == text.replace(" ", "")


def test_analyzer_drops_question_words_and_stems():
    analyzer = TextAnalyzer()
    assert analyzer.terms("How do plants make their food?") == ["plant", "make", "food"]
    assert analyzer.terms("What's 2 + 2?") == ["2", "2"]
    assert analyzer.terms("what is it") == []


def test_word_pieces_join_back_to_the_text_and_cut_long_words():
    text = "Photosynthesis happens in chloroplasts, mostly.\n\nWow!  It's 3/4."
    pieces = word_pieces(text)
    assert "".join(pieces) == text
    assert pieces[:3] == ["Photos", "ynthes", "is"]
    assert " happens" in pieces
    assert all(len(p.strip()) <= 10 for p in pieces)


def test_cut_at_stop_uses_the_earliest_stop_sequence():
    assert cut_at_stop("one two three four", ["four", "two"]) == ("one ", True)
    assert cut_at_stop("one two", ["nine"]) == ("one two", False)
