"""How likely an English sentence ends after the words so far (a text signal for end of turn).

Smart Turn hears intonation, and on synthetic and careful voices it is often wrong both ways:
it calls thinking-pause halves complete ("what is the main", "can you tell me": p 0.5-0.98)
and doubts finished questions that end on a verb ("how do magnets work": p 0.06-0.14 in 4 of
54 Piper takes of 18 questions). The words carry what the audio misses. pocketsphinx's general
English trigram model (``en-us.lm.bin``, shipped in the pocketsphinx wheel: no download) gives
log10 P(</s> | last two words): -0.5 to -1.35 after 50 finished tutoring questions, -1.4 to
-2.7 after many places a student stops to think ("what is the biggest", "how many").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

from asr_svc.language_model.ngram_lookup import ngram_lookup

logger = logging.getLogger(__name__)

#: log10 probability below which a word is unknown to the model (its score is then the
#: unigram chance of </s>, which says nothing about these words).
_UNKNOWN = -90.0


def general_model_path() -> Path | None:
    """pocketsphinx's general English trigram model, or None without pocketsphinx."""
    try:
        import pocketsphinx
    except ImportError:
        return None
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us.lm.bin"
    return path if path.is_file() else None


class SentenceEndModel:
    """log10 P(end of sentence | the last two words) under a general English n-gram model.

    Args:
        lm_path: A pocketsphinx n-gram model (binary or ARPA); ``general_model_path()`` by
            default (~0.7 s to load, 27 MB).

    Raises:
        FileNotFoundError: No model file.
    """

    def __init__(self, lm_path: Path | None = None) -> None:
        path = lm_path or general_model_path()
        if path is None or not path.is_file():
            raise FileNotFoundError(f"no English n-gram model at {path}")
        # The same loaded model as the tutors' model mixture's (one copy per process).
        self._lookup = ngram_lookup(path)

    @staticmethod
    @functools.cache
    def load() -> SentenceEndModel | None:
        """The general model, loaded once per process (read-only, so every judge shares it),
        or None (with a warning) where pocketsphinx is missing."""
        try:
            return SentenceEndModel()
        except (FileNotFoundError, ImportError) as exc:
            logger.warning("end of turn without the sentence-end model: %s", exc)
            return None

    def log10_end(self, words: Sequence[str]) -> float | None:
        """log10 P(</s> | the last two of ``words``); None when the last word is unknown.

        ``words`` are lower-case, without punctuation; an empty list asks after ``<s>``.
        """
        history = ["<s>", *words][-2:]
        if words and self._log10(words[-1], ()) < _UNKNOWN:
            return None
        return self._log10("</s>", history)

    def _log10(self, word: str, history: Sequence[str]) -> float:
        return self._lookup.log10_prob(word, history)
