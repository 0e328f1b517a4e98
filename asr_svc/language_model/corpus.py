"""The text a tutor's language model learns from.

Four parts, mixed by repetition (an n-gram model's counts are its weights):
- the tutor's documents, sentence by sentence: its vocabulary and phrases;
- the questions the documents' clauses make ("Rome was founded by ..." -> "who founded
  rome", ``questions.clause_questions``), since a student asks rather than recites;
- questions about the documents' key terms, in both grammatical numbers ("what is X", "why
  do X", "what is the difference between X and Y" ...);
- everyday English that any student says to any tutor (``everyday_english.txt``), so speech
  off the tutor's topics still has words to land on;
and the stream's phrase hints, which add weight to their words and phrases, never replace the
rest (issue 15: a hint biases, it does not restrict).

A tutor's question model (``question_lines``) learns the questions alone, and also the forms a
student puts them in that the documents do not: the other tense and the active voice of the
documents' clauses, their noun phrases in the other number (``clause_questions``'
``student_forms``). Measured on the dev split (each decoder alone, clean/20 dB): the question
decoder's on-topic WER 0.228/0.301 -> 0.222/0.298, and the best choice among the decoders
0.188/0.274 -> 0.176/0.267. Questions over key terms in those forms ("how did X form", "what
did X do" for every term) made it worse (0.243/0.322): they pulled other questions onto them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from asr_svc.language_model.questions import clause_questions, other_number
from asr_svc.language_model.words import phrase_words, sentences

#: How many times a phrase hint counts at least, against once for a sentence of the documents.
HINT_WEIGHT = 3
#: The share of the corpus's lines the hints get together (as repetitions), at least.
HINT_SHARE = 3.0
#: Key terms (single words, then two-word terms) that question templates are built over.
MAX_TERMS = 60
MAX_PAIRED_TERMS = 12

_STOP_TEXT = """a an the and or but if of to in on at by for with from as is are was were be
    been being
    it its this that these those there here which who whom whose what when where why how do does
    did can could would should will shall may might must not no so such than then too very their
    them they his her he she we you i our your my me us one two three some any all each most more
    other into about over under between also called because while much many like only own same
    both up down out just often around after before through until during each every few
    first second new old another less least per via"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_A_BEFORE_VOWEL = re.compile(r"\ba (?=[aeiou])")
_QUESTIONS_ABOUT_ONE = (
    "what is {x}",
    "what are {x}",
    "what is a {x}",
    "what is the {x}",
    "what does {x} mean",
    "what does the {x} do",
    "can you explain {x}",
    "can you explain the {x}",
    "can you tell me about {x}",
    "tell me about the {x}",
    "tell me more about {x}",
    "how does {x} work",
    "how does the {x} work",
    "how do {x} work",
    "why do {x}",
    "why does the {x}",
    "why is {x} important",
    "what causes {x}",
    "how are {x} formed",
    "where is the {x}",
    "what happens to the {x}",
    "how many {x} are there",
    "give me an example of {x}",
)
_QUESTIONS_ABOUT_TWO = (
    "what is the difference between {x} and {y}",
    "what is the difference between a {x} and a {y}",
    "what is the difference between the {x} and the {y}",
    "how is {x} different from {y}",
)


@dataclass(frozen=True)
class TutorText:
    """What a tutor's language model is built from.

    Attributes:
        documents: Plain text of the tutor's documents (its knowledge base).
        hints: The stream's phrase hints.
        key_terms: The terms to ask questions about; empty: the documents' own (``key_terms``).
    """

    documents: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    key_terms: tuple[str, ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        """Neither documents nor hints: the engine's general model applies."""
        return not self.documents and not self.hints


def key_terms(documents: Iterable[str], *, limit: int = MAX_TERMS) -> list[str]:
    """The documents' most frequent content words and two-word terms, most frequent first."""
    singles: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for document in documents:
        for words in sentences(document):
            for index, word in enumerate(words):
                if not _content(word):
                    continue
                singles[word] += 1
                following = words[index + 1] if index + 1 < len(words) else ""
                if _content(following):
                    pairs[f"{word} {following}"] += 1
    # Two-word terms count only when they recur: "tectonic plates", not any adjacent pair.
    recurring = [term for term, count in pairs.most_common(limit // 2) if count > 1]
    return [term for term, _ in singles.most_common(limit)] + recurring


def corpus_lines(text: TutorText, known: Callable[[str], bool] | None = None) -> list[str]:
    """The training sentences of a tutor's model, one per line, weights as repetitions.

    Args:
        text: The tutor's documents and hints.
        known: Whether a word is a real word, for the base forms of the documents' verbs in
            the questions made of their clauses (``questions.clause_questions``).
    """
    lines = list(everyday_english())
    for document in text.documents:
        lines.extend(" ".join(words) for words in sentences(document))
    return _with_hints(lines + _document_questions(text, known), text)


def question_lines(text: TutorText, known: Callable[[str], bool] | None = None) -> list[str]:
    """The training sentences of a tutor's question model: only the questions its documents
    make (their clauses' and key terms') and its hints, weighted as in ``corpus_lines``.

    A model of these alone is sharp: it hears a student's question about the material far
    better than the tutor's broad model, and hears everything else as such a question
    (``sentence_choice`` weighs the two).
    """
    return _with_hints(_document_questions(text, known, student_forms=True), text)


def _document_questions(
    text: TutorText, known: Callable[[str], bool] | None, *, student_forms: bool = False
) -> list[str]:
    # The student's forms (other tenses and numbers, ``questions.clause_questions``) go to
    # the question model only: in the tutor's broad model, noun phrases in the other number
    # cost dev WER on and off topic (measured in round 6), and its vocabulary is kept small.
    lines = clause_questions(text.documents, known, student_forms=student_forms)
    # A hint of one or two words names a topic: students ask about it like a key term.
    terms = list(text.key_terms) or key_terms(text.documents)
    terms = list(dict.fromkeys(terms + [hint for hint in _hinted(text) if hint.count(" ") < 2]))
    if known is not None:
        # A student says "volcano" of a document's "volcanoes", and the other way round.
        terms += [
            " ".join(variant) for term in terms if (variant := other_number(term.split(), known))
        ]
    lines.extend(dict.fromkeys(_questions(terms)))  # once each, as repetition is weight
    return lines


def _hinted(text: TutorText) -> list[str]:
    return [" ".join(words) for hint in text.hints if (words := phrase_words(hint))]


def _with_hints(lines: list[str], text: TutorText) -> list[str]:
    hinted = _hinted(text)
    if hinted:
        # Hints get a fixed share of the counts however large the rest is, so a client's
        # whole-sentence hints keep the weight they had when they were the whole model.
        repeat = max(HINT_WEIGHT, math.ceil(HINT_SHARE * len(lines) / len(hinted)))
        lines.extend(hint for hint in hinted for _ in range(repeat))
    return lines


def corpus_key(lines: Sequence[str]) -> str:
    """A short stable id of a corpus: equal corpora, equal models."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@cache
def everyday_english() -> tuple[str, ...]:
    """The everyday-English sentences every tutor's model includes."""
    raw = resources.files(__package__).joinpath("everyday_english.txt").read_text("utf-8")
    return tuple(
        " ".join(phrase_words(line))
        for line in raw.splitlines()
        if line.strip() and not line.startswith("#")
    )


def _questions(terms: Sequence[str]) -> list[str]:
    questions = [template.format(x=term) for term in terms for template in _QUESTIONS_ABOUT_ONE]
    paired = terms[:MAX_PAIRED_TERMS]
    questions.extend(
        template.format(x=first, y=second)
        for first in paired
        for second in paired
        if first != second
        for template in _QUESTIONS_ABOUT_TWO
    )
    # "what is an aquifer", "between a conductor and an insulator": the article a student says.
    return [_A_BEFORE_VOWEL.sub("an ", question) for question in questions]


def _content(word: str) -> bool:
    return len(word) > 2 and word not in _STOP_WORDS and not word.isdigit()
