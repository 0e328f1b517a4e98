"""Word timings from phoneme timings: which spoken phonemes belong to which written word.

A neural voice reports how long it holds each phoneme of a sentence, but not where the
written words fall: espeak-ng runs short words together ("of the" -> "ʌvðə") and spells out
others as several ("3.14" -> "θɹiː pɔɪnt wʌn fɔːɹ"). So each written word is phonemized on
its own, and the concatenation of those is aligned with the sentence's phonemes symbol by
symbol (difflib's longest matching blocks); a word spans from its first to its last matched
symbol. Words with no matched symbol ("a" alone is "eɪ", in a sentence "ɐ") share the time
between the matched words around them.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from difflib import SequenceMatcher

# Characters trimmed from a word as written ("world," -> "world").
WORD_TRIM = string.punctuation + "“”‘’«»…—–"
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class TimedSound:
    """A spoken phoneme symbol and when it sounds (ms from the start of the audio)."""

    symbol: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class WordTiming:
    """A written word and when it is spoken (ms)."""

    word: str
    start_ms: float
    end_ms: float


def written_words(text: str) -> list[str]:
    """The words of ``text`` as they are written, punctuation trimmed, punctuation-only
    tokens dropped."""
    words = (m.group().strip(WORD_TRIM) for m in _TOKEN.finditer(text))
    return [w for w in words if w]


def align_words(
    words: list[str], word_sounds: list[str], sounds: list[TimedSound]
) -> list[WordTiming]:
    """Times of ``words`` from the timed sounds of the sentence they were spoken in.

    Args:
        words: The written words, in order.
        word_sounds: For each word, the symbols it is spoken with alone.
        sounds: The sentence's spoken symbols with their times, in order.

    Returns:
        One timing per word, in order, starts never decreasing.
    """
    expected = "".join(word_sounds)
    owner = [i for i, symbols in enumerate(word_sounds) for _ in symbols]
    # Code point -> its sound (a symbol may be a cluster of several code points, "aɪ").
    actual = "".join(s.symbol for s in sounds)
    sound_of = [i for i, s in enumerate(sounds) for _ in s.symbol]
    matched: list[list[int]] = [[] for _ in words]  # sounds matched to each word
    matcher = SequenceMatcher(None, expected, actual, autojunk=False)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            matched[owner[block.a + offset]].append(sound_of[block.b + offset])
    origin = sounds[0].start_ms if sounds else 0.0
    end = sounds[-1].end_ms if sounds else 0.0
    spans: list[tuple[float, float] | None] = []
    floor = origin
    for indexes in matched:
        if indexes:
            start = max(floor, sounds[min(indexes)].start_ms)
            spans.append((start, max(start, sounds[max(indexes)].end_ms)))
            floor = start
        else:
            spans.append(None)
    filled = _fill_gaps(spans, origin, end)
    return [WordTiming(word, *span) for word, span in zip(words, filled, strict=True)]


def _fill_gaps(
    spans: list[tuple[float, float] | None], origin: float, end: float
) -> list[tuple[float, float]]:
    """Unmatched words (None) share the time between the matched words around them."""
    filled: list[tuple[float, float]] = []
    previous_end = origin
    index = 0
    while index < len(spans):
        span = spans[index]
        if span is not None:
            filled.append(span)
            previous_end = max(previous_end, span[1])
            index += 1
            continue
        run_end = index
        while run_end < len(spans) and spans[run_end] is None:
            run_end += 1
        following = spans[run_end] if run_end < len(spans) else None
        gap_end = following[0] if following is not None else max(previous_end, end)
        gap_start = min(previous_end, gap_end)
        share = (gap_end - gap_start) / (run_end - index)
        filled += [
            (gap_start + share * n, gap_start + share * (n + 1)) for n in range(run_end - index)
        ]
        previous_end = gap_end
        index = run_end
    return filled
