"""Choosing a tutor's final transcript among its decoders' transcripts, by a fitted chooser.

A tutor's doubtful final gets second opinions (``engines.pocketsphinx``): the tutor's question
model's, the general model's, or both. The sentence mixture's score (``sentence_choice``: the
acoustic score plus the mixture's language score) alone keeps too many of the question model's
and the tutor's transcripts of everyday speech (dev and fit splits, off-topic: the mixture's
choice had more errors than the tutor's transcript alone). What else tells the right
transcript: its decoder's calibrated confidence, whether another decoder heard the same words,
and which decoder it came from, given how the tutor's own transcript read (its confidence; its
margin, how much likelier the tutor's model finds it than the general model does). A
conditional logit scores each transcript; the highest wins:

    score(c) = sum_i WEIGHTS[i] * features(c)[i]

Only differences between an utterance's transcripts count (a feature equal for all of them
drops out).

``WEIGHTS`` were fitted by ``benchmarks.fit_chooser`` (its docstring has the commands) on the
``dev`` and ``fit`` splits of the spoken question set (clean and 20 dB white noise; every
question decoded by all three decoders, in the sets the engine's triggers gather, and all
three). Checked across the splits (fitted on one, WER on the other, against the sentence
mixture on the same transcripts): fitted on dev, the fit split's off-topic WER fell 0.527 ->
0.473 clean and 0.603 -> 0.565 noisy, on-topic 0.269 -> 0.260 and 0.434 -> 0.425; fitted on
the fit split, dev's on-topic rose 0.240 -> 0.252 and 0.328 -> 0.331, off-topic 0.464 ->
0.464 and 0.478 -> 0.493. Where only the tutor's and the question model's transcripts compete,
it chose no better than the mixture; where the general model's transcript is among them (is
the final everyday English?), it chose better on both splits: so the engine would use it there
only. In the engine, though, it did not beat the mixture on dev (``benchmarks.asr_accuracy``,
clean/20 dB: on-topic 0.216/0.301 -> 0.222/0.295, off-topic 0.493/0.464 -> 0.493/0.478), so
it is off (``engines.pocketsphinx.USE_CHOOSER``). Nor clearly on the fit split, fitted on dev
alone: off-topic 0.435/0.580 -> 0.412/0.573, on-topic 0.311/0.429 -> 0.311/0.434. The held-out
split was not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The decoders a transcript can come from.
TUTOR, QUESTIONS, GENERAL = "tutor", "questions", "general"

#: The tutor margin's bound in the features, nats per word.
MARGIN_LIMIT = 5.0
#: What each feature is, in ``features``' order.
FEATURE_NAMES = (
    "from the question model",
    "from the general model",
    "confidence",
    "share of its words another decoder heard",
    "question model x tutor margin",
    "general model x tutor margin",
    "question model x tutor confidence",
    "general model x tutor confidence",
    "sentence mixture score / 100",
)
#: The fitted weights (see the module docstring; refit with ``python -m benchmarks.fit_chooser``).
WEIGHTS = (-0.860, -0.483, 3.817, 2.076, 0.071, 0.062, -0.433, 1.211, 0.271)


@dataclass(frozen=True)
class Heard:
    """One decoder's transcript of an utterance, with what the chooser weighs.

    Attributes:
        decoder: ``TUTOR``, ``QUESTIONS`` or ``GENERAL``.
        words: The transcript's words.
        confidence: Its calibrated transcript confidence (``asr_svc.confidence``; the question
            decoder's own calibration, ``engines.pocketsphinx.QUESTION_CONFIDENCE``).
        mixture_score: Its score under the sentence mixture (``SentenceMixture.score``).
    """

    decoder: str
    words: tuple[str, ...]
    confidence: float
    mixture_score: float


def features(heard: Heard, others: Sequence[Heard], tutor: Heard, margin: float) -> list[float]:
    """The chooser's features of one transcript among the utterance's ``others``.

    Args:
        heard: The transcript.
        others: The utterance's other transcripts.
        tutor: The tutor decoder's transcript.
        margin: The tutor's transcript's margin (``SentenceMixture.tutor_margin``).
    """
    questions = float(heard.decoder == QUESTIONS)
    general = float(heard.decoder == GENERAL)
    # A word outside the general model puts the margin in the thousands: its sign and first
    # few nats are what tell material from everyday English.
    margin = min(max(margin, -MARGIN_LIMIT), MARGIN_LIMIT)
    elsewhere = {word for other in others for word in other.words}
    shared = sum(word in elsewhere for word in heard.words) / max(1, len(heard.words))
    return [
        questions,
        general,
        heard.confidence,
        shared,
        questions * margin,
        general * margin,
        questions * tutor.confidence,
        general * tutor.confidence,
        heard.mixture_score / 100.0,
    ]


def feature_rows(candidates: Sequence[Heard], margin: float) -> list[list[float]]:
    """Every candidate's features; the tutor decoder's transcript must be among them."""
    tutor = next((c for c in candidates if c.decoder == TUTOR), None)
    if tutor is None:
        raise ValueError("the tutor decoder's transcript is not among the candidates")
    return [
        features(heard, [*candidates[:index], *candidates[index + 1 :]], tutor, margin)
        for index, heard in enumerate(candidates)
    ]


def scores(
    candidates: Sequence[Heard], margin: float, weights: Sequence[float] = WEIGHTS
) -> list[float]:
    """Each candidate's score under the chooser (higher: likelier right)."""
    return [
        sum(w * f for w, f in zip(weights, row, strict=True))
        for row in feature_rows(candidates, margin)
    ]


def best(candidates: Sequence[Heard], margin: float, weights: Sequence[float] = WEIGHTS) -> int:
    """The index of the candidate the chooser picks (the first of equals)."""
    if not candidates:
        raise ValueError("no transcripts to choose from")
    found = scores(candidates, margin, weights)
    return found.index(max(found))
