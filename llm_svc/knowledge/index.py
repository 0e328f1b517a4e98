"""A knowledge base in memory: its documents, their passages and a BM25 index over them."""

from __future__ import annotations

import difflib
import functools
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bm25s
import numpy as np

from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import (
    Document,
    Passage,
    PassageHit,
    split_into_passages,
    split_sentences,
)

_MIN_CANDIDATES = 50
_TERMS_CACHE = 4096
# How alike (difflib ratio) a misheard word and a known word must be to read one as the other.
_SIMILAR_WORD = 0.7
_SIMILAR_JOINED = 0.7
_WORD = re.compile(r"\w+")

# bm25s sets its own logger to DEBUG, which would log every index build whatever the
# service's log level.
logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class RelevancePolicy:
    """When a passage is good enough to answer from or to put into a prompt."""

    #: Lowest BM25 score.
    min_score: float = 0.0
    #: Lowest share of the question's distinct terms the passage must contain, each term
    #: weighted by its IDF (a specific term counts more than a common one; a term the knowledge
    #: base does not know at all counts the most).
    min_coverage: float = 0.6
    #: Words per passage when splitting documents.
    passage_max_words: int = 80


class KnowledgeBase:
    """An immutable, searchable knowledge base.

    Indexing builds a new instance; searches running on the old one finish undisturbed.
    """

    def __init__(
        self,
        knowledge_base_id: str,
        documents: Iterable[Document],
        *,
        analyzer: TextAnalyzer,
        policy: RelevancePolicy,
    ) -> None:
        self.id = knowledge_base_id
        self.documents: Mapping[str, Document] = {d.id: d for d in documents}
        self.policy = policy
        self._analyzer = analyzer
        self.passages: tuple[Passage, ...] = tuple(
            passage
            for document in self.documents.values()
            for passage in split_into_passages(document, max_words=policy.passage_max_words)
        )
        self._by_position = {(p.document_id, p.index): p for p in self.passages}
        corpus = [analyzer.terms(passage.search_text) for passage in self.passages]
        self._passage_terms = [frozenset(terms) for terms in corpus]
        # What each document is about as a whole, for judging follow-ups (see search()).
        self._document_terms: dict[str, frozenset[str]] = {}
        for passage, terms in zip(self.passages, self._passage_terms, strict=True):
            known = self._document_terms.get(passage.document_id, frozenset())
            self._document_terms[passage.document_id] = known | terms
        # Inverse document frequency over passages (BM25's formula), for weighing which of a
        # question's terms a passage covers: a rare, specific term counts more than a common one.
        frequency: Counter[str] = Counter(term for terms in self._passage_terms for term in terms)
        count = len(self.passages)
        self._idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in frequency.items()
        }
        # A term no passage contains weighs the most: that is what makes a question off-topic.
        self._unknown_idf = math.log(1 + (count + 0.5) / 0.5)
        self._vocabulary: list[str] | None = None
        # Answers analyse the same sentences, titles and clauses on every turn; the cache goes
        # with this (immutable) knowledge base.
        self._terms = functools.lru_cache(maxsize=_TERMS_CACHE)(self._analyze)
        self._sentences: dict[tuple[str, int], tuple[tuple[str, frozenset[str]], ...]] = {}
        self._bm25 = bm25s.BM25()
        if self.passages:
            self._bm25.index(corpus, show_progress=False)

    def reread(self, text: str) -> str:
        """``text`` as its closest-looking known words ("whether in climb it" -> "weather
        climate"): what a student heard badly most likely said, in this knowledge base."""
        return " ".join(self._known_words(text))

    def _known_words(self, question: str) -> list[str]:
        """The question's words, each unknown one read as the closest-looking known word."""
        if self._vocabulary is None:  # built on first use: only questions heard badly need it
            self._vocabulary = sorted(
                {w for p in self.passages for w in self._analyzer.words(p.search_text)}
            )
        tokens = _WORD.findall(question.lower())
        result: list[str] = []
        index = 0
        while index < len(tokens):
            word = tokens[index]
            if not self._analyzer.words(word):  # a stopword: only ever the end of a pair
                index += 1
                continue
            known = self._is_known(word)
            # Misrecognition splits words ("earth wakes" for "earthquakes"): try this word
            # joined with the next when either is unknown.
            if index + 1 < len(tokens) and not (known and self._is_known(tokens[index + 1])):
                joined = self._similar(word + tokens[index + 1], _SIMILAR_JOINED)
                if joined:
                    result.append(joined)
                    index += 2
                    continue
            if known:
                result.append(word)
            elif similar := self._similar(word, _SIMILAR_WORD):
                result.append(similar)
            index += 1
        return result

    def _is_known(self, word: str) -> bool:
        terms = self._analyzer.terms(word)
        return bool(terms) and terms[0] in self._idf

    def _similar(self, word: str, cutoff: float) -> str:
        assert self._vocabulary is not None
        match = difflib.get_close_matches(word, self._vocabulary, n=1, cutoff=cutoff)
        return match[0] if match else ""

    def _analyze(self, text: str) -> tuple[str, ...]:
        return tuple(self._analyzer.terms(text))

    def following(self, passage: Passage) -> Passage | None:
        """The passage after ``passage`` in its document; None at the end."""
        return self._by_position.get((passage.document_id, passage.index + 1))

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``, as questions and passages are analyzed."""
        return list(self._terms(text))

    def idf(self, term: str) -> float:
        """How specific a search term is in this knowledge base (higher: rarer)."""
        return self._idf.get(term, self._unknown_idf)

    def weighted_coverage(self, wanted: frozenset[str], present: frozenset[str]) -> float:
        """The IDF-weighted share of ``wanted`` terms that are ``present``, in [0, 1]."""
        total = sum(self.idf(term) for term in wanted)
        return sum(self.idf(term) for term in wanted & present) / total if total else 0.0

    def sentences(self, passage: Passage) -> tuple[tuple[str, frozenset[str]], ...]:
        """The sentences of a passage of this knowledge base, each with its search terms.

        Worked out once per passage (answers are made of sentences; analysing them again for
        every question would cost time before the first token).
        """
        key = (passage.document_id, passage.index)
        cached = self._sentences.get(key)
        if cached is None:
            cached = tuple(
                (text, frozenset(self._analyzer.terms(text)))
                for text in split_sentences(passage.text)
            )
            self._sentences[key] = cached  # bounded by the passages; a race only repeats work
        return cached

    def topics(self) -> list[str]:
        """The titles of the documents, in the order they were indexed."""
        return [document.title for document in self.documents.values()]

    def search(
        self, question: str, *, limit: int, must_cover: str | None = None
    ) -> list[PassageHit]:
        """The passages relevant to ``question`` under the policy, best first.

        Blocking (scoring is numpy work); callers on the event loop use a thread for large
        knowledge bases.

        Args:
            question: What the student asked (ranks the passages).
            limit: Most passages to return.
            must_cover: Text whose terms the passage's document must cover under the policy,
                instead of the passage the question's terms. A follow-up ("how does it make
                clouds?") is ranked by its own words and judged on whether the passage's
                document is about the topic before it.

        Returns:
            At most ``limit`` hits, each meeting the policy's score and coverage; empty when
            nothing is relevant.
        """
        terms = self._analyzer.terms(question)
        judged = frozenset(terms if must_cover is None else self._analyzer.terms(must_cover))
        if not terms or not judged or not self.passages or limit < 1:
            return []
        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
        weights = {term: self.idf(term) for term in judged}
        total = sum(weights.values())
        hits: list[PassageHit] = []
        # Coverage is checked on the best-scoring candidates only, so a huge knowledge base with
        # many weak matches costs no more than a small one.
        candidates = np.argsort(-scores, kind="stable")[: max(_MIN_CANDIDATES, limit * 10)]
        for position in candidates:
            score = float(scores[position])
            if score < self.policy.min_score or score <= 0:
                break
            present = (
                self._passage_terms[position]
                if must_cover is None
                else self._document_terms[self.passages[position].document_id]
            )
            coverage = sum(weights[term] for term in judged & present) / total
            if coverage >= self.policy.min_coverage:
                hits.append(PassageHit(self.passages[position], score, coverage))
                if len(hits) == limit:
                    break
        return hits

    def closest(self, question: str) -> PassageHit | None:
        """The best-scoring passage for ``question`` whatever its coverage, reading words it does
        not know as the most similar-looking words it does ("whether" -> "weather", "climb it"
        -> "climate"); None if nothing matches. For asking "did you mean ...?" about a question
        the speech recognizer heard badly."""
        terms = self._analyzer.terms(" ".join(self._known_words(question)))
        if not terms or not self.passages:
            return None
        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
        best = int(np.argmax(scores))
        if scores[best] <= 0:
            return None
        coverage = self.weighted_coverage(frozenset(terms), self._passage_terms[best])
        return PassageHit(self.passages[best], float(scores[best]), coverage)
