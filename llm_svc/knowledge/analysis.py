"""Turning text into search terms: lower-case words, no stopwords, Snowball-stemmed.

Questions and passages go through the same analysis, so "How do plants make food?" finds
"Plants make their own food". The stopwords are bm25s's English list plus the words questions
are made of ("what", "how", "tell me about", "how does it help", "why does it matter"): they
say nothing about the topic, and counting them would make every question look half-answered
by any passage that asks something, or an on-topic question look off-topic.
"""

from __future__ import annotations

import re
import threading

import bm25s.stopwords
import Stemmer

_WORD = re.compile(r"\w+")

# Split from a string to keep the list readable; ruff would format a list one word per line.
_QUESTION_WORDS = frozenset(
    """
    about again also am any anything can could did do does doing done explain give had has have
    he her here him his how i i'd i'm know let like me mean means more my please really she
    should show so some something tell thank thanks than those us very want we were what
    whats when where which who whom whose why would you your yours
    don doesn didn isn aren wasn weren haven hasn couldn wouldn shouldn
    help helps helped work works happen happens happened important matter matters thing things
    """.split()  # noqa: SIM905
)

STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | _QUESTION_WORDS


class TextAnalyzer:
    """Splits text into the terms the index stores and searches by.

    Safe to share between threads: PyStemmer's stemmers are not, so each thread gets its own.
    """

    def __init__(self, language: str = "english") -> None:
        self._language = language
        self._local = threading.local()

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``, in order, repeats kept (BM25 counts them)."""
        words = self.words(text)
        return list(self._stemmer().stemWords(words)) if words else []

    def words(self, text: str) -> list[str]:
        """The words of ``text`` that become search terms, lower-cased and not yet stemmed."""
        return [
            word
            for word in _WORD.findall(text.lower())
            # Single letters are mostly split contractions ("what's"); single digits are kept.
            if word not in STOPWORDS and (len(word) > 1 or word.isdigit())
        ]

    def _stemmer(self) -> Stemmer.Stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer(self._language)
        return stemmer
