"""Choosing the sentences that answer a question, from the passages retrieval found.

Retrieval finds the right passage; reading all of it out answers a different, longer question
(issue 16). Here every sentence of the best passages is scored by the share of the question's
own terms it holds (IDF-weighted), the topic's terms, how much it looks like the kind of answer
wanted (a reason for "why", a number for "how many"), and its passage's rank. The best sentence
leads; further sentences join while they add something (terms not yet covered, or the next
sentence of the same passage) and the answer stays within its word budget. A sentence that
opens with "This" or "It" brings the sentence before it, so it still makes sense alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from llm_svc.knowledge.documents import Passage, PassageHit
from llm_svc.tutoring.intents import normalize
from llm_svc.tutoring.questions import QuestionType, cue_strength
from llm_svc.tutoring.sentence_roles import defined_terms, example_strength, explains

_ANAPHORIC_START = re.compile(
    r"^(?:this|that|these|those|it|its|they|their|them|he|she|his|her|such|so|then|but|also)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[,;:]\s")
# Weights of the parts of a sentence's score (tuned on the dialogue suite's tuning half).
_TOPIC_WEIGHT = 0.4
_CUE_WEIGHT = 0.35
_SECTION_CUE = 1.0
_EXPLAINS_BONUS = 0.4
_RANK_WEIGHT = 0.3
_OPENING_BONUS = 0.15
_TITLE_OPENING_BONUS = 0.4
_EXAMPLE_WEIGHT = 1.0
_NEXT_SENTENCE_BONUS = 0.35
_DEFINES_BONUS = 0.5
_COVERAGE_WEIGHT = 0.5
_DEFINING = (QuestionType.DEFINITION, QuestionType.DIFFERENCE, QuestionType.OTHER)
_REPEATED_PENALTY = 0.2
# Passages scoring below this share of the best one are not drawn on.
_RELATIVE_FLOOR = 0.5
_SAME_DOCUMENT_BONUS = 0.3
_SAME_PASSAGE_BONUS = 0.2
_NEXT_PASSAGE_BONUS = 0.4
# A further sentence joins when it adds at least this much.
_MIN_GAIN = 0.3
# Below this many words an answer takes the next sentence of its passage for context.
_MIN_WORDS = 25


class Scorer(Protocol):
    """What selection needs from a knowledge base (``KnowledgeBase`` has it)."""

    def terms(self, text: str) -> list[str]: ...

    def weighted_coverage(self, wanted: frozenset[str], present: frozenset[str]) -> float: ...

    def sentences(self, passage: Passage) -> tuple[tuple[str, frozenset[str]], ...]: ...


@dataclass(frozen=True)
class Sentence:
    """A sentence of a retrieved passage."""

    hit: PassageHit
    #: Rank of its passage in the search, from 0.
    rank: int
    #: Position within its passage, from 0.
    position: int
    text: str
    terms: frozenset[str]

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Selection:
    """The sentences chosen, in speaking order, and the passages they come from."""

    sentences: list[Sentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def citations(self) -> tuple[PassageHit, ...]:
        seen: dict[tuple[str, int], PassageHit] = {}
        for sentence in self.sentences:
            key = (sentence.hit.passage.document_id, sentence.hit.passage.index)
            seen.setdefault(key, sentence.hit)
        return tuple(seen.values())


@dataclass(frozen=True)
class Wanted:
    """What the answer should be: the student's words, the topic, the kind and the length."""

    #: Search terms of the student's own question (empty for "tell me more" and the like).
    focus: frozenset[str]
    #: Search terms of the topic the conversation is on.
    topic: frozenset[str]
    kind: QuestionType
    budget_words: int
    #: What the tutor said recently, normalized (``intents.normalize``).
    said: str = ""
    #: Say nothing of the last reply again ("tell me more", "another example").
    avoid_said: bool = False
    #: Say something of the last reply again only when nothing else answers.
    penalize_said: bool = False
    prefer_examples: bool = False
    prefer_short: bool = False
    #: Most passages the sentences may come from.
    max_passages: int = 2
    #: The question leans on what was just said ("where does it happen?").
    follow_up: bool = False
    #: It asks what comes next ("what happens after that?").
    sequel: bool = False


def sentences_of(scorer: Scorer, hits: list[PassageHit]) -> list[Sentence]:
    """Every sentence of the hits' passages, with its search terms."""
    return [
        Sentence(hit, rank, position, text, terms)
        for rank, hit in enumerate(hits)
        for position, (text, terms) in enumerate(scorer.sentences(hit.passage))
    ]


def select(scorer: Scorer, hits: list[PassageHit], wanted: Wanted) -> Selection:
    """The sentences of ``hits`` that best answer what is ``wanted``, within its budget."""
    if hits:
        # Passages far behind the best one only lend sentences that happen to share a word.
        floor = _RELATIVE_FLOOR * max(h.score for h in hits)
        hits = [h for h in hits if h.score >= floor]
    every = sentences_of(scorer, hits)
    candidates = [s for s in every if not (wanted.avoid_said and _was_said(s, wanted))]
    if not candidates:
        return Selection()
    best_score = max(h.score for h in hits) or 1.0
    scores = {id(s): _score(scorer, s, wanted, best_score) for s in candidates}
    if wanted.follow_up:
        _add_continuity(scores, every, candidates, wanted)
    best = max(candidates, key=lambda s: scores[id(s)])
    if best.words > wanted.budget_words:
        return Selection([_trimmed(best, wanted.budget_words)])
    chosen = [best]
    while True:
        words = sum(s.words for s in chosen)
        covered = frozenset().union(*(s.terms for s in chosen))
        passages = {id(s.hit) for s in chosen}
        options = [
            (gain, s)
            for s in candidates
            if s not in chosen and words + s.words <= wanted.budget_words
            if id(s.hit) in passages or len(passages) < wanted.max_passages
            if (gain := _gain(scorer, s, chosen, covered, wanted, words)) >= _MIN_GAIN
        ]
        if not options:
            break
        chosen.append(max(options, key=lambda pair: pair[0])[1])
    return Selection(_in_speaking_order(_with_antecedents(chosen, candidates, wanted)))


def _score(scorer: Scorer, s: Sentence, wanted: Wanted, best_score: float) -> float:
    score = scorer.weighted_coverage(wanted.focus, s.terms) if wanted.focus else 0.0
    if wanted.topic:
        score += _TOPIC_WEIGHT * scorer.weighted_coverage(wanted.topic, s.terms)
    # A section's heading says what kind of thing it tells ("What makes the weather" gives
    # reasons, "Where earthquakes happen" places).
    section_cue = cue_strength(wanted.kind, s.hit.passage.section) if s.hit.passage.section else 0
    score += _CUE_WEIGHT * max(cue_strength(wanted.kind, s.text), _SECTION_CUE * section_cue)
    score += _RANK_WEIGHT * s.hit.score / best_score
    defining = wanted.kind in _DEFINING and not wanted.prefer_examples
    if s.position == 0 and defining:
        score += _OPENING_BONUS  # a paragraph opens with what it is about
        if s.hit.passage.index == 0 and wanted.focus <= frozenset(
            scorer.terms(s.hit.passage.title)
        ):
            score += _TITLE_OPENING_BONUS  # and a document opens with what its title names
    score += _COVERAGE_WEIGHT * s.hit.coverage  # its passage covers the whole question
    if defining and wanted.focus & defined_terms(scorer, s.text):
        score += _DEFINES_BONUS
    if wanted.kind is QuestionType.REASON and explains(scorer, s.text, wanted.focus):
        score += _EXPLAINS_BONUS
    if wanted.penalize_said and _was_said(s, wanted):
        score -= _REPEATED_PENALTY
    if wanted.prefer_examples:
        score += _EXAMPLE_WEIGHT * example_strength(s.text)
    if wanted.prefer_short:
        score -= 0.02 * max(0, s.words - 12)
    if _ANAPHORIC_START.match(s.text):
        score -= 0.05  # prefer a sentence that stands on its own
    return score


def _add_continuity(
    scores: dict[int, float], every: list[Sentence], candidates: list[Sentence], wanted: Wanted
) -> None:
    """A follow-up stays with the document just talked about ("where does it go after
    that?"), and one asking what comes next prefers the passage after the one just read."""
    said = {(s.hit.passage.document_id, s.hit.passage.index) for s in every if _was_said(s, wanted)}
    documents = {document for document, _ in said}
    for s in candidates:
        passage = (s.hit.passage.document_id, s.hit.passage.index)
        if passage[0] in documents:
            scores[id(s)] += _SAME_DOCUMENT_BONUS
        if passage in said:
            scores[id(s)] += _SAME_PASSAGE_BONUS
        if wanted.sequel and (passage[0], passage[1] - 1) in said:
            scores[id(s)] += _NEXT_PASSAGE_BONUS


def _was_said(s: Sentence, wanted: Wanted) -> bool:
    return bool(wanted.said) and normalize(s.text) in wanted.said


def _gain(
    scorer: Scorer,
    s: Sentence,
    chosen: list[Sentence],
    covered: frozenset[str],
    wanted: Wanted,
    words: int,
) -> float:
    """What adding ``s`` to the chosen sentences adds."""
    # Terms still missing, weighted against the whole question ("the difference between
    # weather and climate" needs a sentence on each).
    uncovered = wanted.focus - covered
    gain = scorer.weighted_coverage(wanted.focus, s.terms & uncovered) if uncovered else 0.0
    if wanted.kind in _DEFINING and len(wanted.focus) > 1:
        # "The difference between weather and climate": a sentence defining each side.
        defined = frozenset().union(*(defined_terms(scorer, c.text) for c in chosen))
        if (wanted.focus - defined) & defined_terms(scorer, s.text):
            gain += _DEFINES_BONUS
    follows = any(c.hit is s.hit and c.position + 1 == s.position for c in chosen)
    if wanted.kind is QuestionType.REASON and not follows:
        # A cause is often told just before its effect: "The sun warms the land unevenly, so
        # air moves. Moving air is wind."
        precedes = any(c.hit is s.hit and c.position - 1 == s.position for c in chosen)
        follows = precedes and cue_strength(wanted.kind, s.text) > 0
    if follows and (words < _MIN_WORDS or wanted.budget_words > 60):
        gain += _NEXT_SENTENCE_BONUS
    if wanted.prefer_examples and any(c.hit is s.hit for c in chosen):
        gain += 0.5 * example_strength(s.text)
    if wanted.prefer_short:
        gain -= 0.5
    return gain + 0.15 * cue_strength(wanted.kind, s.text) * (gain > 0)


def _with_antecedents(
    chosen: list[Sentence], candidates: list[Sentence], wanted: Wanted
) -> list[Sentence]:
    """Adds the sentence before each chosen one that opens with "This", "It", ..."""
    result = list(chosen)
    words = sum(s.words for s in result)
    for s in chosen:
        if s.position == 0 or not _ANAPHORIC_START.match(s.text):
            continue
        before = next(
            (c for c in candidates if c.hit is s.hit and c.position == s.position - 1), None
        )
        if (
            before is not None
            and before not in result
            and words + before.words <= max(wanted.budget_words, 60)
        ):
            result.append(before)
            words += before.words
    return result


def _in_speaking_order(chosen: list[Sentence]) -> list[Sentence]:
    """Passages in the order their first chosen sentence was chosen; document order within."""
    order: dict[int, int] = {}
    for s in chosen:
        order.setdefault(id(s.hit), len(order))
    return sorted(chosen, key=lambda s: (order[id(s.hit)], s.position))


def _trimmed(s: Sentence, budget_words: int) -> Sentence:
    """A sentence longer than the budget, cut at its last clause break within it."""
    words = s.text.split()[:budget_words]
    text = " ".join(words)
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
    if breaks and breaks[-1] > len(text) // 3:
        text = text[: breaks[-1]]
    return Sentence(s.hit, s.rank, s.position, text.rstrip(",;:") + ".", s.terms)
