"""A trigram model with interpolated Kneser-Ney smoothing, written as ARPA text.

pocketsphinx's own ``ArpaBoLM`` discounts every n-gram by a fixed half and backs off to raw
word frequencies. A tutor's corpus is mostly questions, so raw frequencies make "what", "is"
and "does" the likeliest words anywhere: a content word the acoustics doubt was replaced by
"what are" in mid-sentence. Kneser-Ney backs off to how many different words a word follows
instead (its continuation count): "what" starts many questions but follows few words, so it
stays likely after ``<s>`` and nowhere else. A line written out k times (a phrase hint, so
weighted) counts k times at every order. Counts are discounted by the usual estimate
``n1 / (n1 + 2 n2)`` per order (n1, n2: how many n-grams were seen once, twice).

The interpolated model is written in backoff form: a seen n-gram's line carries its whole
interpolated probability, and a history's backoff weight is the share it left to the lower
order, which is exact for interpolated smoothing.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

NGram = tuple[str, ...]
_START, _END = "<s>", "</s>"
#: Bounds of a discount estimated from too few n-grams.
_DISCOUNT_RANGE = (0.3, 0.9)


def kneser_ney_arpa(lines: Iterable[str]) -> str:
    """A trigram model of ``lines`` (space-separated words) in ARPA format."""
    trigrams: Counter[NGram] = Counter()
    # How many times the line an n-gram came from is repeated (most, over its lines): a
    # repeated line is weighted (a phrase hint), not a word seen after many others.
    repeats: dict[NGram, int] = {}
    for line, repeat in Counter(lines).items():
        words = [_START, *line.split(), _END]
        if len(words) < 3:
            continue
        # A one-word line still teaches "<s> w </s>": (<s>, <s>, w) counts its first bigram.
        for trigram in [(_START, *words[:2]), *zip(words, words[1:], words[2:], strict=False)]:
            trigrams[trigram] += repeat
            repeats[trigram] = max(repeats.get(trigram, 0), repeat)
    # Lower orders count the distinct words before an n-gram (continuation counts), times
    # its line's repetitions, except n-grams that start a sentence: nothing can precede
    # <s>, so their counts are raw.
    bigrams: Counter[NGram] = Counter()
    bigram_repeats: dict[NGram, int] = {}
    for (first, second, third), count in trigrams.items():
        pair: NGram = (second, third)
        if first == _START and second == _START:
            bigrams[(_START, third)] += count
        else:
            bigrams[pair] += repeats[(first, second, third)]
        bigram_repeats[pair] = max(bigram_repeats.get(pair, 0), repeats[(first, second, third)])
    unigrams: Counter[NGram] = Counter()
    for bigram in bigrams:
        unigrams[bigram[1:]] += bigram_repeats[bigram]
    trigrams = Counter({ngram: c for ngram, c in trigrams.items() if ngram[1] != _START})

    probabilities: list[dict[NGram, float]] = [{}, {}, {}]
    backoffs: list[dict[NGram, float]] = [{}, {}]
    total = sum(unigrams.values())
    discount = _discount(unigrams)
    vocabulary = len(unigrams)
    leftover = discount * vocabulary / total
    for ngram, count in unigrams.items():
        # The discounted mass is spread evenly over the vocabulary.
        probabilities[0][ngram] = (count - discount) / total + leftover / vocabulary
    for order, counts in ((1, bigrams), (2, trigrams)):
        discount = _discount(counts)
        totals: defaultdict[NGram, float] = defaultdict(float)
        types: Counter[NGram] = Counter()
        for ngram, count in counts.items():
            totals[ngram[:-1]] += count
            types[ngram[:-1]] += 1
        for ngram, count in counts.items():
            history = ngram[:-1]
            gamma = discount * types[history] / totals[history]
            lower = _probability(probabilities, backoffs, ngram[1:])
            probabilities[order][ngram] = (count - discount) / totals[history] + gamma * lower
        for history, seen in totals.items():
            backoffs[order - 1][history] = discount * types[history] / seen
    return _arpa(probabilities, backoffs)


def _discount(counts: Counter[NGram]) -> float:
    once = sum(1 for count in counts.values() if count == 1)
    twice = sum(1 for count in counts.values() if count == 2)
    estimate = once / (once + 2 * twice) if once and twice else 0.5
    return min(max(estimate, _DISCOUNT_RANGE[0]), _DISCOUNT_RANGE[1])


def _probability(
    probabilities: list[dict[NGram, float]], backoffs: list[dict[NGram, float]], ngram: NGram
) -> float:
    found = probabilities[len(ngram) - 1].get(ngram)
    if found is not None:
        return found
    if len(ngram) == 1:
        return 0.0
    weight = backoffs[len(ngram) - 2].get(ngram[:-1], 1.0)
    return weight * _probability(probabilities, backoffs, ngram[1:])


def _arpa(probabilities: list[dict[NGram, float]], backoffs: list[dict[NGram, float]]) -> str:
    # <s> is never predicted, but it is a history: it needs a unigram line for its backoff.
    probabilities[0].pop((_START,), None)
    lines = ["\\data\\", f"ngram 1={len(probabilities[0]) + 1}"]
    lines += [f"ngram {order + 1}={len(probabilities[order])}" for order in (1, 2)]
    lines += ["", "\\1-grams:", f"-99.0000\t{_START}\t{_log(backoffs[0].get((_START,), 1.0))}"]
    for order in range(3):
        if order:
            lines += ["", f"\\{order + 1}-grams:"]
        for ngram, probability in probabilities[order].items():
            text = f"{_log(probability)}\t{' '.join(ngram)}"
            if order < 2:
                text += f"\t{_log(backoffs[order].get(ngram, 1.0))}"
            lines.append(text)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _log(probability: float) -> str:
    return f"{math.log10(probability):.4f}" if probability > 0 else "-99.0000"
