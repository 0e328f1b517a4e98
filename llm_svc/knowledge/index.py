"""A knowledge base in memory: its documents, their passages and a BM25 index over them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bm25s
import numpy as np

from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import Document, Passage, PassageHit, split_into_passages

_MIN_CANDIDATES = 50

# bm25s sets its own logger to DEBUG, which would log every index build whatever the
# service's log level.
logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class RelevancePolicy:
    """When a passage is good enough to answer from or to put into a prompt."""

    #: Lowest BM25 score.
    min_score: float = 0.0
    #: Lowest fraction of the question's distinct terms the passage must contain.
    min_coverage: float = 0.5
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
        corpus = [analyzer.terms(passage.search_text) for passage in self.passages]
        self._passage_terms = [frozenset(terms) for terms in corpus]
        self._bm25 = bm25s.BM25()
        if self.passages:
            self._bm25.index(corpus, show_progress=False)

    def search(self, question: str, *, limit: int) -> list[PassageHit]:
        """The passages relevant to ``question`` under the policy, best first.

        Blocking (scoring is numpy work); callers on the event loop use a thread for large
        knowledge bases.

        Args:
            question: What the student asked.
            limit: Most passages to return.

        Returns:
            At most ``limit`` hits, each meeting the policy's score and coverage; empty when
            nothing is relevant.
        """
        terms = self._analyzer.terms(question)
        distinct = frozenset(terms)
        if not distinct or not self.passages or limit < 1:
            return []
        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
        hits: list[PassageHit] = []
        # Coverage is checked on the best-scoring candidates only, so a huge knowledge base with
        # many weak matches costs no more than a small one.
        candidates = np.argsort(-scores, kind="stable")[: max(_MIN_CANDIDATES, limit * 10)]
        for position in candidates:
            score = float(scores[position])
            if score < self.policy.min_score or score <= 0:
                break
            coverage = len(distinct & self._passage_terms[position]) / len(distinct)
            if coverage >= self.policy.min_coverage:
                hits.append(PassageHit(self.passages[position], score, coverage))
                if len(hits) == limit:
                    break
        return hits
