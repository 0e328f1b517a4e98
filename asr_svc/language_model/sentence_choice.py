"""Choosing between a tutor's transcript and the general model's, as a sentence mixture would.

A tutor's model mixes the general English model in word by word (``general_mix``, at a small
weight), so a question off the tutor's topics pays that small weight at every word and lands
on the tutor's words ("can we take a break now" -> "can we take of rate know"). A mixture
over whole sentences, ``P(s) = w P_tutor(s) + (1 - w) P_general(s)``, pays it once: a student
either asks about the material or says something else. pocketsphinx cannot decode with such a
model, but it can decode twice: when the tutor's transcript is doubtful, a decoder with the
general model hears the utterance too, and the transcript the sentence mixture prefers wins,
scored as a decoder scores a path: the acoustic score the decoder that found it reports, plus
``LANGUAGE_WEIGHT`` times its log probability under the mixture.

The language scores are fair because both transcripts are scored under the same model; the
acoustic ones because both decoders share the acoustic model, the features and the starting
channel estimate (the same transcript from both decoders scores within a word's language score).
Measured on the dev split of the spoken-question set (``benchmarks.asr_accuracy``), with
the engine's triggers (``engines.pocketsphinx``): language weights of 50-120 and tutor shares
of 0.5-0.8 chose alike; 30 kept more wrong tutor transcripts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: log10 P(word | history) of a trigram model; history oldest first, at most two words.
Log10Prob = Callable[[str, Sequence[str]], float]

#: The tutor's share of the sentence mixture: how often a tutor's student asks about the
#: tutor's material rather than anything else.
TUTOR_SHARE = 0.8
#: Weight of a sentence's natural-log probability against the acoustic score, in the units
#: pocketsphinx's Python binding reports acoustic scores in (the natural log of its
#: ``Segment.ascore``). Measured on the dev split: 30 kept more tutor transcripts that were
#: wrong, 50-120 chose alike.
LANGUAGE_WEIGHT = 50.0
_LN10 = math.log(10.0)
_ORDER = 3  # both models are trigram models


@dataclass(frozen=True)
class Candidate:
    """A decoder's transcript of an utterance and its acoustic score.

    Attributes:
        words: The words, as the models spell them (no fillers, no alternate markers).
        acoustic: The natural log of the acoustic likelihood of the whole path (its words,
            silences and fillers), as the decoder reports it.
    """

    words: tuple[str, ...]
    acoustic: float


def acoustic_score(segment_scores: Sequence[float]) -> float | None:
    """A path's acoustic score from its segments' ``ascore`` (likelihoods, as the binding
    gives them); None when one underflowed to 0, which leaves nothing to compare."""
    if any(score <= 0.0 for score in segment_scores):
        return None
    return sum(math.log(score) for score in segment_scores)


def sentence_log_prob(words: Sequence[str], log10_prob: Log10Prob) -> float:
    """The natural-log probability of ``<s> words </s>`` under a trigram model."""
    history = ["<s>"]
    total = 0.0
    for word in [*words, "</s>"]:
        total += log10_prob(word, history[-(_ORDER - 1) :])
        history.append(word)
    return total * _LN10


def mixture_log_prob(tutor: float, general: float, tutor_share: float = TUTOR_SHARE) -> float:
    """log(share * e^tutor + (1 - share) * e^general), without underflow."""
    first, second = math.log(tutor_share) + tutor, math.log(1 - tutor_share) + general
    top = max(first, second)
    return top + math.log(math.exp(first - top) + math.exp(second - top))


class SentenceMixture:
    """A tutor's model and the general one, mixed over whole sentences.

    Args:
        tutor_model: log10 probabilities of the tutor's model (the general one mixed in).
        general_model: log10 probabilities of the general English model.
        tutor_share: The tutor model's share of the mixture.
    """

    def __init__(
        self, tutor_model: Log10Prob, general_model: Log10Prob, tutor_share: float = TUTOR_SHARE
    ) -> None:
        self._tutor = tutor_model
        self._general = general_model
        self._share = tutor_share

    def log_probs(self, words: Sequence[str]) -> tuple[float, float]:
        """A sentence's natural-log probabilities under the tutor's model and the general one."""
        return sentence_log_prob(words, self._tutor), sentence_log_prob(words, self._general)

    def tutor_margin(self, words: Sequence[str]) -> float:
        """How much likelier the tutor's model finds a sentence than the general model does,
        in nats per word (its end counts as one): high for the tutor's own questions, low
        for everyday English."""
        tutor, general = self.log_probs(words)
        return (tutor - general) / (len(words) + 1)

    def score(self, candidate: Candidate) -> float:
        """A candidate's path score under the sentence mixture."""
        language = mixture_log_prob(*self.log_probs(candidate.words), self._share)
        return candidate.acoustic + LANGUAGE_WEIGHT * language

    def prefers_general(self, tutor: Candidate, general: Candidate) -> bool:
        """Whether the general model's transcript scores above the tutor's."""
        return self.score(general) > self.score(tutor)
