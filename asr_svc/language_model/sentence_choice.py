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

A tutor's question model (only the questions its documents make, ``corpus.question_lines``)
decodes every utterance beside the tutor's model, and joins the mixture as a third part:
``P(s) = w_t P_tutor(s) + w_q P_questions(s) + w_g P_general(s)`` (``QUESTION_SHARES``). A
student's question about the material is likely under the sharp question model, everyday
English under the general one, and the tutor's broad model covers what lies between.
The question decoder's acoustic scores are not quite on the others' scale: pocketsphinx scores
each frame against the best of the senones its search keeps active, and a small vocabulary
keeps fewer, so the same transcript scores ~10-20% higher there (computing all senones,
``compallsen``, puts them level at twice the cost). The shares were measured as it is;
scaling its scores down by 8-16% chose alike on the dev split.
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
#: Shares (tutor, questions, general) of the three-part mixture. Measured on the dev split of
#: the spoken set with all three transcripts at hand (language weights 30-50 alike): question
#: shares of 0.3-0.6 chose alike on-topic; a general share under 0.4 kept more of the question
#: model's transcripts of off-topic speech (clean / noisy off-topic WER 0.45 / 0.48 at 0.4,
#: 0.45 / 0.54 at 0.3, with the engine's second-opinion trigger).
QUESTION_SHARES = (0.2, 0.4, 0.4)
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
    return log_mixture(((tutor_share, tutor), (1 - tutor_share, general)))


def log_mixture(parts: Sequence[tuple[float, float]]) -> float:
    """log(sum of share * e^log_prob) over (share, log_prob) parts, without underflow."""
    terms = [math.log(share) + log_prob for share, log_prob in parts if share > 0]
    top = max(terms)
    return top + math.log(sum(math.exp(term - top) for term in terms))


class SentenceMixture:
    """A tutor's model and the general one, mixed over whole sentences.

    Args:
        tutor_model: log10 probabilities of the tutor's model (the general one mixed in).
        general_model: log10 probabilities of the general English model.
        tutor_share: The tutor model's share of the mixture (without a question model).
        question_model: log10 probabilities of the tutor's question model, if it has one:
            the mixture is then three-part, with ``QUESTION_SHARES``.
    """

    def __init__(
        self,
        tutor_model: Log10Prob,
        general_model: Log10Prob,
        tutor_share: float = TUTOR_SHARE,
        question_model: Log10Prob | None = None,
    ) -> None:
        self._tutor = tutor_model
        self._general = general_model
        self._share = tutor_share
        self._questions = question_model

    def log_probs(self, words: Sequence[str]) -> tuple[float, float]:
        """A sentence's natural-log probabilities under the tutor's model and the general one."""
        return sentence_log_prob(words, self._tutor), sentence_log_prob(words, self._general)

    def tutor_margin(self, words: Sequence[str]) -> float:
        """How much likelier the tutor's model finds a sentence than the general model does,
        in nats per word (its end counts as one): high for the tutor's own questions, low
        for everyday English."""
        tutor, general = self.log_probs(words)
        return (tutor - general) / (len(words) + 1)

    def log_prob(self, words: Sequence[str]) -> float:
        """A sentence's natural-log probability under the mixture."""
        tutor, general = self.log_probs(words)
        if self._questions is None:
            return mixture_log_prob(tutor, general, self._share)
        questions = sentence_log_prob(words, self._questions)
        shares = QUESTION_SHARES
        return log_mixture(((shares[0], tutor), (shares[1], questions), (shares[2], general)))

    def score(self, candidate: Candidate) -> float:
        """A candidate's path score under the sentence mixture."""
        return candidate.acoustic + LANGUAGE_WEIGHT * self.log_prob(candidate.words)

    def best(self, candidates: Sequence[Candidate]) -> int:
        """The index of the candidate with the best score (the first of equals)."""
        scores = [self.score(candidate) for candidate in candidates]
        return scores.index(max(scores))

    def prefers_general(self, tutor: Candidate, general: Candidate) -> bool:
        """Whether the general model's transcript scores above the tutor's."""
        return self.score(general) > self.score(tutor)
