"""An n-gram model file loaded once per process and read from any thread.

pocketsphinx's general English model (27 MB) serves both the tutors' model mixture
(``general_mix``) and the end-of-turn sentence-end probability (``asr_svc.sentence_end``):
one copy in memory, one load at start-up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class NGramLookup:
    """log10 P(word | history) under a pocketsphinx n-gram model (binary or ARPA)."""

    def __init__(self, path: Path) -> None:
        from pocketsphinx import Config, LogMath, NGramModel

        self._logmath: Any = LogMath()
        self._model: Any = NGramModel(Config(loglevel="FATAL"), self._logmath, str(path))
        # The C model keeps a lookup cache: one caller at a time (~5 us a lookup).
        self._lock = threading.Lock()

    def log10_prob(self, word: str, history: Sequence[str]) -> float:
        """log10 P(word | history), the model's backoff applied (history oldest first)."""
        with self._lock:
            score = self._model.prob([word, *reversed(history)])
        return float(self._logmath.log_to_log10(score))


def ngram_lookup(path: Path) -> NGramLookup:
    """The lookup of the model at ``path``, loaded on first use and shared after."""
    return _loaded(Path(path).resolve())


@functools.cache
def _loaded(path: Path) -> NGramLookup:
    return NGramLookup(path)
