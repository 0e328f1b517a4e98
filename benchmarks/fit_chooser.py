"""Fits the transcript chooser's weights (``asr_svc.language_model.transcript_choice``).

Input: dumps of ``benchmarks.asr_accuracy_errors --dump`` (every question decoded by the
tutor's, the question model's and the general decoder). Each question becomes the set of
transcripts the engine's triggers gather for it (``engines.pocketsphinx``: the question
model's opinion on doubtful finals that read as the material, the general model's on doubtful
ones that read as everyday English); sets with more than one transcript and not all equally
right teach the chooser. A conditional logit is fitted by gradient descent (numpy; L2
penalty): each set's probability that the chooser picks one of its best transcripts (fewest
word errors), weighted by how many errors the choice decides.

Printed for the fitting dumps and for the checking ones: WER of the tutor decoder alone, of
the sentence mixture's choice (``sentence_choice``), of the fitted chooser's, and of the best
possible choice, on/off topic and clean/noisy; and the weights to paste into
``transcript_choice.WEIGHTS``.

Run::

    python -m benchmarks.asr_accuracy_errors --split fit --dump /tmp/fit.json
    python -m benchmarks.asr_accuracy_errors --split dev --dump /tmp/dev.json
    python -m benchmarks.fit_chooser --fit /tmp/fit.json --check /tmp/dev.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from asr_svc.engines import pocketsphinx
from asr_svc.language_model import sentence_choice, transcript_choice
from asr_svc.language_model.transcript_choice import Heard
from tests.support import spoken_questions

#: L2 penalty on the weights, and gradient descent's steps and step size.
PENALTY = 0.01
STEPS = 3000
RATE = 0.05


def candidate_set(row: dict[str, Any], *, every: bool = False) -> list[Heard]:
    """The transcripts the engine would choose among for a dumped question (``every``: all
    three decoders', whatever the triggers say)."""
    tutor = row["tutor"]
    confidence = tutor["confidence"]
    margin = tutor["tutor_margin"]
    asks_questions = every or (
        confidence < pocketsphinx.QUESTION_OPINION_BELOW
        and margin >= pocketsphinx.QUESTION_OPINION_MARGIN
    )
    asks_general = every or (
        confidence < pocketsphinx.QUESTIONS_FALLBACK_BELOW and margin < pocketsphinx.FALLBACK_MARGIN
    )
    decoders = [transcript_choice.TUTOR]
    decoders += [transcript_choice.QUESTIONS] if asks_questions else []
    decoders += [transcript_choice.GENERAL] if asks_general else []
    decoders = [
        decoder
        for decoder in decoders
        if row[decoder]["acoustic"] is not None and row[decoder]["text"].split()
    ]
    if transcript_choice.TUTOR not in decoders:
        return []
    scores = _mixture_scores(row, decoders, asks_questions)
    return [
        Heard(decoder, tuple(row[decoder]["text"].split()), row[decoder]["confidence"], score)
        for decoder, score in zip(decoders, scores, strict=True)
    ]


def mixture_choice(candidates: list[Heard]) -> int:
    """The sentence mixture's choice among the candidates (as the engine made it before the
    chooser)."""
    scores = [c.mixture_score for c in candidates]
    return scores.index(max(scores))


def _mixture_scores(row: dict[str, Any], decoders: list[str], questions: bool) -> list[float]:
    """The sentence mixture's scores (``SentenceMixture.score``), three-part when the
    question model was at hand."""
    scores = []
    for decoder in decoders:
        heard = row[decoder]
        tutor, general = heard["log_prob_tutor"], heard["log_prob_general"]
        if questions:
            shares = sentence_choice.QUESTION_SHARES
            language = sentence_choice.log_mixture(
                (
                    (shares[0], tutor),
                    (shares[1], heard["log_prob_questions"]),
                    (shares[2], general),
                )
            )
        else:
            language = sentence_choice.mixture_log_prob(tutor, general)
        scores.append(heard["acoustic"] + sentence_choice.LANGUAGE_WEIGHT * language)
    return scores


def fit(rows: list[dict[str, Any]], used: set[int] | None = None) -> np.ndarray:
    """The chooser's weights fitted on dumped questions (see the module docstring)."""
    sets: list[tuple[np.ndarray, np.ndarray, float]] = []
    for row in rows:
        for every in (False, True):
            candidates = candidate_set(row, every=every)
            if len(candidates) < 2:
                continue
            errors = np.array(
                [
                    spoken_questions.word_errors(row["said"], " ".join(c.words))[0]
                    for c in candidates
                ]
            )
            if errors.min() == errors.max():
                continue
            features = np.array(
                transcript_choice.feature_rows(candidates, row["tutor"]["tutor_margin"])
            )
            sets.append((features, errors == errors.min(), float(errors.max() - errors.min())))
    # Gradient descent on standardized features (their spread within sets), unscaled after.
    spread = np.concatenate([features - features.mean(axis=0) for features, _, _ in sets])
    scale = np.where(spread.std(axis=0) > 0, spread.std(axis=0), 1.0)
    sets = [(features / scale, best, weight) for features, best, weight in sets]
    # Starting from the sentence mixture's own choice, and its score's weight not penalized:
    # the other features are held near 0, so what the data does not support stays as it was.
    mixture = transcript_choice.FEATURE_NAMES.index("sentence mixture score / 100")
    weights = np.zeros(len(transcript_choice.FEATURE_NAMES))
    weights[mixture] = 1.0
    free = np.ones_like(weights)
    free[mixture] = 0.0
    mask = np.array([used is None or i in used for i in range(len(weights))], dtype=float)
    total = sum(weight for _, _, weight in sets)
    for _ in range(STEPS):
        gradient = 2 * PENALTY * weights * free
        for features, best, weight in sets:
            scores = features @ weights
            p = np.exp(scores - scores.max())
            p /= p.sum()
            # The chooser's odds among the best transcripts alone (in logs: p may underflow).
            q = np.where(best, np.exp(scores - scores[best].max()), 0.0)
            q /= q.sum()
            gradient += weight / total * ((p - q) @ features)
        weights -= RATE * gradient * mask
    return weights / scale


def report(
    rows: list[dict[str, Any]], weights: np.ndarray, label: str, *, every: bool = False
) -> None:
    """WER of each way of choosing, per split part."""
    print(f"\n{label}: WER tutor alone / sentence mixture / chooser / best possible")
    for noise in ("clean", "white"):
        for on_topic in (True, False):
            part = [r for r in rows if r["noise"] == noise and r["on_topic"] == on_topic]
            if not part:
                continue
            ways: dict[str, list[tuple[str, str]]] = {
                "tutor": [],
                "mix": [],
                "chooser": [],
                "best": [],
            }
            for row in part:
                candidates = candidate_set(row, every=every)
                said = row["said"]
                if not candidates:
                    for way in ways.values():
                        way.append((said, ""))
                    continue
                texts = [" ".join(c.words) for c in candidates]
                ways["tutor"].append((said, row["tutor"]["text"]))
                ways["mix"].append((said, texts[mixture_choice(candidates)]))
                ways["chooser"].append(
                    (
                        said,
                        texts[
                            transcript_choice.best(
                                candidates, row["tutor"]["tutor_margin"], list(weights)
                            )
                        ],
                    )
                )
                errors = [spoken_questions.word_errors(said, text)[0] for text in texts]
                ways["best"].append((said, texts[errors.index(min(errors))]))
            wers = " / ".join(
                f"{spoken_questions.word_error_rate(pairs):.3f}" for pairs in ways.values()
            )
            print(f"  {noise} {'on' if on_topic else 'off'}: {wers}  ({len(part)} questions)")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, nargs="+", required=True, help="dumps to fit on")
    parser.add_argument("--check", type=Path, nargs="*", default=[], help="dumps to check on")
    parser.add_argument(
        "--features", help="comma-separated indexes of the features to fit (default: all)"
    )
    args = parser.parse_args()
    fitting = [row for path in args.fit for row in json.loads(path.read_text())]
    used = {int(i) for i in args.features.split(",")} if args.features else None
    weights = fit(fitting, used)
    for name, weight in zip(transcript_choice.FEATURE_NAMES, weights, strict=True):
        print(f"  {weight:+8.3f}  {name}")
    print("WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")
    report(fitting, weights, "fitted on")
    report(fitting, weights, "fitted on, every decoder heard", every=True)
    for path in args.check:
        checking = json.loads(path.read_text())
        report(checking, weights, f"checked on {path.name}")
        report(checking, weights, f"checked on {path.name}, every decoder heard", every=True)


if __name__ == "__main__":
    main()
