"""Backoff n-gram models held as dictionaries: backed-off lookups, and their ARPA text.

``probabilities[k]`` maps each (k+1)-gram to its probability; ``backoffs[k]`` maps a
(k+1)-word history to the weight its lower order gets (1.0 when absent).
"""

from __future__ import annotations

import math

NGram = tuple[str, ...]
START = "<s>"
#: ARPA's log10 probability of what is never predicted (``<s>``).
NEVER = -99.0


def backed_off(
    probabilities: list[dict[NGram, float]], backoffs: list[dict[NGram, float]], ngram: NGram
) -> float:
    """The model's probability of ``ngram``'s last word after the rest, backing off."""
    found = probabilities[len(ngram) - 1].get(ngram)
    if found is not None:
        return found
    if len(ngram) == 1:
        return 0.0
    weight = backoffs[len(ngram) - 2].get(ngram[:-1], 1.0)
    return weight * backed_off(probabilities, backoffs, ngram[1:])


def arpa_text(probabilities: list[dict[NGram, float]], backoffs: list[dict[NGram, float]]) -> str:
    """The model in ARPA format (its order: how many probability tables there are)."""
    orders = len(probabilities)
    # <s> is never predicted, but it is a history: it needs a unigram line for its backoff.
    unigrams = {(START,): 0.0, **{g: p for g, p in probabilities[0].items() if g != (START,)}}
    tables = [unigrams, *probabilities[1:]]
    lines = ["\\data\\"]
    lines += [f"ngram {order + 1}={len(tables[order])}" for order in range(orders)]
    for order, table in enumerate(tables):
        lines += ["", f"\\{order + 1}-grams:"]
        for ngram, probability in table.items():
            text = f"{_log(probability)}\t{' '.join(ngram)}"
            if order + 1 < orders:
                text += f"\t{_log(backoffs[order].get(ngram, 1.0))}"
            lines.append(text)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _log(probability: float) -> str:
    return f"{math.log10(probability) if probability > 0 else NEVER:.4f}"
