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

from collections import Counter, defaultdict
from collections.abc import Iterable

from asr_svc.language_model.backoff_model import START, NGram, arpa_text, backed_off

_END = "</s>"
#: Bounds of a discount estimated from too few n-grams.
_DISCOUNT_RANGE = (0.3, 0.9)


def kneser_ney_arpa(lines: Iterable[str]) -> str:
    """A trigram model of ``lines`` (space-separated words) in ARPA format."""
    trigrams: Counter[NGram] = Counter()
    # How many times the line an n-gram came from is repeated (most, over its lines): a
    # repeated line is weighted (a phrase hint), not a word seen after many others.
    repeats: dict[NGram, int] = {}
    for line, repeat in Counter(lines).items():
        words = [START, *line.split(), _END]
        if len(words) < 3:
            continue
        # A one-word line still teaches "<s> w </s>": (<s>, <s>, w) counts its first bigram.
        for trigram in [(START, *words[:2]), *zip(words, words[1:], words[2:], strict=False)]:
            trigrams[trigram] += repeat
            repeats[trigram] = max(repeats.get(trigram, 0), repeat)
    # Lower orders count the distinct words before an n-gram (continuation counts), times
    # its line's repetitions, except n-grams that start a sentence: nothing can precede
    # <s>, so their counts are raw.
    bigrams: Counter[NGram] = Counter()
    bigram_repeats: dict[NGram, int] = {}
    for (first, second, third), count in trigrams.items():
        pair: NGram = (second, third)
        if first == START and second == START:
            bigrams[(START, third)] += count
        else:
            bigrams[pair] += repeats[(first, second, third)]
        bigram_repeats[pair] = max(bigram_repeats.get(pair, 0), repeats[(first, second, third)])
    unigrams: Counter[NGram] = Counter()
    for bigram in bigrams:
        unigrams[bigram[1:]] += bigram_repeats[bigram]
    trigrams = Counter({ngram: c for ngram, c in trigrams.items() if ngram[1] != START})

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
            lower = backed_off(probabilities, backoffs, ngram[1:])
            probabilities[order][ngram] = (count - discount) / totals[history] + gamma * lower
        for history, seen in totals.items():
            backoffs[order - 1][history] = discount * types[history] / seen
    return arpa_text(probabilities, backoffs)


def _discount(counts: Counter[NGram]) -> float:
    once = sum(1 for count in counts.values() if count == 1)
    twice = sum(1 for count in counts.values() if count == 2)
    estimate = once / (once + 2 * twice) if once and twice else 0.5
    return min(max(estimate, _DISCOUNT_RANGE[0]), _DISCOUNT_RANGE[1])
