"""The general English model mixed into a tutor's model, so it widens rather than replaces.

A tutor's model alone knows only its documents, the questions over them and a short list of
everyday English: anything else a student says ("who killed caesar", "where is the library")
lands on the nearest tutor word. pocketsphinx decodes with one n-gram model and its Python
binding cannot interpolate two, so the mixture is written out as one ARPA model:

    P(w | h) = (1 - g) * P_tutor(w | h) + g * P_general(w | h)

on the tutor model's n-grams, the general model's most frequent words and its word pairs
among the commonest of them, with backoff weights recomputed as the tutor's model computes
them (a history's unseen share spread over the lower order). The unigrams sum to under one,
as the tutor's own do (its unigram discount, and the general words left out, keep their
share); scaling them up to one made the dev split worse.
The general side is read from the model pocketsphinx ships (``en-us.lm.bin``) through its
own ``NGramModel``, so its true bigram and trigram probabilities apply to the tutor's word
sequences. (Its ARPA export crashes part-way, so nothing is converted or cached on disk.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from asr_svc.language_model.backoff_model import NEVER, NGram, arpa_text, backed_off
from asr_svc.language_model.ngram_lookup import ngram_lookup

#: The general model's share of every probability. On the dev split of the spoken set, less
#: general weight kept on-topic questions better (0.05-0.1 against 0.2-0.3), off-topic alike.
GENERAL_WEIGHT = 0.1
#: How many of the general model's most frequent words are kept (about 90% of running text):
#: the vocabulary of the general decoder that gives tutors' doubtful finals a second opinion
#: (``engines.pocketsphinx``); more words cost decoding time: 20,000 brought RTF near 0.1.
GENERAL_WORDS = 10000
#: How many of them a tutor's own model mixes in. A tutor's decoder searches every word of its
#: vocabulary at every frame: on the dev split 10,000 general words cost it RTF 0.074, 2,000
#: ~0.06, 1,000 0.056 (CPU, load ~4), for no more on-topic errors (0.271/0.353 clean/noisy
#: with 10,000, 0.255/0.316 with 1,000). Speech beyond them (everyday English off the tutor's
#: topics) is what the general decoder's second opinion is for; the time saved pays for the
#: question model's second opinion on doubtful questions about the material.
TUTOR_GENERAL_WORDS = 2000
#: The most frequent words whose word pairs the general model's bigrams are kept for.
GENERAL_PAIR_WORDS = 400
#: A pair is kept when the general model rates it this many times above its unigram chance.
_PAIR_LIFT = 2.0
#: log10 probability below which a word is not in the general model (its unknown-word score).
_UNKNOWN = -90.0
#: The floor of a backoff weight's parts.
_TINY = 1e-9


class GeneralModel:
    """pocketsphinx's general English model, as probabilities to mix into a tutor's model.

    Args:
        lm_path: The binary (or ARPA) model, e.g. ``en-us.lm.bin``.
        pronounceable: Words the recognizer's dictionary can say; others are never kept.
        words: How many of the most frequent pronounceable words to keep.
    """

    def __init__(
        self,
        lm_path: Path,
        pronounceable: Iterable[str],
        *,
        words: int = GENERAL_WORDS,
        pair_words: int = GENERAL_PAIR_WORDS,
    ) -> None:
        self._lookup = ngram_lookup(lm_path)
        scored = [(self.log10_prob(word, ()), word) for word in set(pronounceable)]
        frequent = sorted((item for item in scored if item[0] > _UNKNOWN), reverse=True)
        #: The kept words' log10 unigram probabilities, most frequent first.
        self.unigrams = {word: logprob for logprob, word in frequent[:words]}
        # Everyday word pairs ("what time", "is it", "tell me") carry off-topic speech; the
        # general model's pairs among its most frequent words, where it knows them better
        # than chance, become bigrams of every tutor's model.
        common = [word for _, word in frequent[:pair_words]]
        #: (history, word) -> P(word | history) of the kept pairs.
        self.bigrams: dict[tuple[str, str], float] = {}
        for history in ["<s>", *common]:
            for word in [*common, "</s>"]:
                chance = 10.0 ** self.unigrams.get(word, self.log10_prob(word, ()))
                probability = self.prob(word, (history,))
                if probability > _PAIR_LIFT * chance:
                    self.bigrams[history, word] = probability

    def top_words(self, count: int) -> list[str]:
        """The ``count`` most frequent kept words, most frequent first."""
        return list(itertools.islice(self.unigrams, count))

    def log10_prob(self, word: str, history: Sequence[str]) -> float:
        """log10 P(word | history), the general model's backoff applied."""
        return self._lookup.log10_prob(word, history)

    def prob(self, word: str, history: Sequence[str]) -> float:
        """P(word | history); 0 for a word the general model lacks."""
        logprob = self.log10_prob(word, history)
        return 0.0 if logprob < _UNKNOWN else 10.0**logprob


def mix_arpa(
    arpa: str,
    general: GeneralModel,
    weight: float = GENERAL_WEIGHT,
    words: int = TUTOR_GENERAL_WORDS,
) -> str:
    """The tutor's ARPA model with ``general`` mixed in at ``weight`` (its ``words`` most
    frequent words), as ARPA text."""
    tutor = _read_arpa(arpa)
    orders = len(tutor)
    mixed: list[dict[NGram, float]] = [{} for _ in range(orders)]
    for word in dict.fromkeys([*tutor[0], *((w,) for w in general.top_words(words))]):
        if word == ("<s>",):
            continue
        known = general.unigrams.get(word[0])
        general_p = 10.0**known if known is not None else general.prob(word[0], ())
        mixed[0][word] = (1 - weight) * _tutor_prob(tutor, word) + weight * general_p
    for pair, probability in general.bigrams.items():
        if pair not in tutor[1]:
            mixed[1][pair] = (1 - weight) * _tutor_prob(tutor, pair) + weight * probability
    for order in range(1, orders):
        for ngram in tutor[order]:
            general_p = general.prob(ngram[-1], ngram[:-1])
            mixed[order][ngram] = (1 - weight) * _tutor_prob(tutor, ngram) + weight * general_p
    backoffs: list[dict[NGram, float]] = [{} for _ in range(orders)]
    for order in range(1, orders):
        children: dict[NGram, list[NGram]] = {}
        for ngram in mixed[order]:
            children.setdefault(ngram[:-1], []).append(ngram)
        for history, ngrams in children.items():
            seen = sum(mixed[order][n] for n in ngrams)
            lower = sum(backed_off(mixed, backoffs, n[1:]) for n in ngrams)
            backoffs[order - 1][history] = max(_TINY, 1 - seen) / max(_TINY, 1 - lower)
    return arpa_text(mixed, backoffs)


def _read_arpa(arpa: str) -> list[dict[NGram, tuple[float, float]]]:
    """ARPA text -> per order, n-gram -> (log10 probability, log10 backoff)."""
    orders: list[dict[NGram, tuple[float, float]]] = []
    order = 0
    for line in arpa.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
            orders.append({})
            continue
        fields = line.split()
        if order == 0 or len(fields) < order + 1 or line.startswith("\\"):
            continue
        backoff = float(fields[order + 1]) if len(fields) > order + 1 else 0.0
        orders[order - 1][tuple(fields[1 : order + 1])] = (float(fields[0]), backoff)
    return orders


def _tutor_prob(tutor: list[dict[NGram, tuple[float, float]]], ngram: NGram) -> float:
    """P(last word | the others) in the tutor's backoff model; 0 for a word it lacks."""
    entry = tutor[len(ngram) - 1].get(ngram)
    if entry is not None:
        return 0.0 if entry[0] <= NEVER else 10.0 ** entry[0]
    if len(ngram) == 1:
        return 0.0
    history = tutor[len(ngram) - 2].get(ngram[:-1])
    backoff = 10.0 ** history[1] if history is not None else 1.0
    return backoff * _tutor_prob(tutor, ngram[1:])
