"""Text as a recognizer's dictionary spells it: lower-case words, numbers spelled out."""

from __future__ import annotations

import re
from collections.abc import Iterator

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+")
_ALTERNATE = re.compile(r"\(\d+\)$")
# Sentence ends, blank lines and Markdown headings all end a run of words: an n-gram model
# must not learn word pairs across them.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:])\s+|\n\s*\n|\n\s*#+\s*|^\s*#+\s*|\n\s*[-*]\s+")


def number_words(number: int) -> list[str]:
    """Spells a whole number below one million: 42 -> ["forty", "two"]."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        tens, ones = divmod(number, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return [_ONES[hundreds], "hundred"] + (number_words(rest) if rest else [])
    thousands, rest = divmod(number, 1000)
    return [*number_words(thousands), "thousand"] + (number_words(rest) if rest else [])


def phrase_words(phrase: str) -> list[str]:
    """The words of a phrase as the dictionary spells them: lower case, numbers spelled out."""
    words: list[str] = []
    for token in _WORD.findall(phrase.lower().replace("\u2019", "'")):
        if token.isdigit():
            words.extend(number_words(int(token)) if len(token) < 7 else list(token))
        else:
            words.append(token)
    return words


def sentences(text: str) -> Iterator[list[str]]:
    """The sentences of a document (headings and list items count as sentences), as words."""
    for piece in _SENTENCE_BREAK.split(text):
        words = phrase_words(piece)
        if words:
            yield words


def base_word(dictionary_word: str) -> str:
    """ "capital(2)" (an alternate pronunciation) -> "capital"."""
    return _ALTERNATE.sub("", dictionary_word)
