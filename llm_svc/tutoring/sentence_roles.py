"""What a sentence does for a question: defines a term, explains a cause, gives an example.

Answer selection (``selection``) rewards a sentence that does what the question asks: "what is
X" wants the sentence that defines X, "why X" the one whose cause leads to X, "an example" one
that reads like an example. Read from the sentence's words alone, cheaply.
"""

from __future__ import annotations

import re
from typing import Protocol

from llm_svc.tutoring.questions import CUES, QuestionType

_EXAMPLE = re.compile(
    r"\bfor (?:example|instance)\b|\bsuch as\b|\be\.g\.|\bimagine\b|\bif you\b"
    r"|\bsuppose\b|\bwhen you\b|\bsay you\b|\bexamples? of\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_NUMBERS = CUES[QuestionType.QUANTITY]
# "X because Y" and "Y, so X" ("so that" and "so you can" give a purpose, not a cause).
_CAUSE = re.compile(
    r"\b(?P<because>because|since|due to)\b"
    r"|\b(?P<so>so(?! that\b| you\b)|therefore|that is why|this is why|which is why)\b",
    re.IGNORECASE,
)
# "X is a ...", "X means ...", "... is called X": the sentence's first such verb.
_DEFINITION_VERB = re.compile(r"\s(?:is|are|means)(?: called)?\s")
# "X is why ..." gives a reason, not a meaning.
_NOT_A_MEANING = re.compile(r"(?:why|how|when|where|because|not|also)\b")
# Search terms a defined subject has at most ("the water cycle": 2).
_SUBJECT_TERMS = 3
# ... and a name it gives ("is the denominator") at most this many.
_NAMED_TERMS = 2
_CLAUSE_END = re.compile(r"[,;:.!?]")


class Analyzer(Protocol):
    """The search terms of a text (``KnowledgeBase.terms``)."""

    def terms(self, text: str) -> list[str]: ...


def defined_terms(scorer: Analyzer, text: str) -> frozenset[str]:
    """The terms a sentence defines: its subject in "A fraction is ...", "Evaporation means
    ...", or what it names in "This is called evaporation"; empty when it defines nothing."""
    match = _DEFINITION_VERB.search(text)
    if not match or _NOT_A_MEANING.match(text, match.end()):
        return frozenset()
    if match.group(0).strip().lower().endswith("called"):
        return frozenset(scorer.terms(text[match.end() : match.end() + 40]))
    subject = frozenset(scorer.terms(text[: match.start()]))
    # A long stretch before the verb is a clause of its own, not the subject being defined.
    defined = subject if len(subject) <= _SUBJECT_TERMS else frozenset()
    # "The number on the bottom is the denominator: ...", "Moving air is wind."
    named = frozenset(scorer.terms(_CLAUSE_END.split(text[match.end() :], maxsplit=1)[0]))
    return defined | (named if len(named) <= _NAMED_TERMS else frozenset())


def explains(scorer: Analyzer, text: str, focus: frozenset[str]) -> bool:
    """Whether a sentence gives the reason for a focus term: the term before "because" ("leaves
    are green because ...") or after "so" ("... so clouds form and it may rain")."""
    for match in _CAUSE.finditer(text):
        before = frozenset(scorer.terms(text[: match.start()]))
        after = frozenset(scorer.terms(text[match.end() :]))
        if (match.group("because") and focus & before) or (match.group("so") and focus & after):
            return True
    return False


def example_strength(text: str) -> float:
    """How much a sentence looks like an example, in [0, 1]: an example phrase ("for example",
    "such as", "imagine") counts fully; a concrete instance, with numbers or names, half."""
    if _EXAMPLE.search(text):
        return 1.0
    words = text.split()
    numbers = _DIGIT.search(text) or any(w.strip(",.;:").lower() in _NUMBERS for w in words)
    names = any(w[:1].isupper() for w in words[1:])
    return 0.5 if numbers or names else 0.0
