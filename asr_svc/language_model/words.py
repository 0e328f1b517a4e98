"""Text as a recognizer's dictionary spells it: lower-case words, numbers spelled out.

Numbers are spelled as a student reads them aloud: years as years ("1840" -> "eighteen
forty", "1905" -> "nineteen oh five"), decades ("1770s" -> "seventeen seventies"), ordinals
("19th" -> "nineteenth"), decimals ("4.5" -> "four point five"), thousands separators and
percent signs ("10,000" -> "ten thousand", "%" -> "percent").
"""

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
_WORD = re.compile(
    r"[a-z]+(?:'[a-z]+)*"
    r"|\d{1,3}(?:,\d{3})+(?![\d,])"  # 10,000
    r"|\d+\.\d+"  # 4.5
    r"|\d+(?:'?s|st|nd|rd|th)(?![a-z])"  # 1770s, 80's, 19th
    r"|\d+|%"
)
_LARGE = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
#: Four-digit numbers in this range are read as years ("in 1840"), as students say them.
_YEARS = range(1100, 2100)
_ALTERNATE = re.compile(r"\(\d+\)$")
# Sentence ends, blank lines and Markdown headings all end a run of words: an n-gram model
# must not learn word pairs across them.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:])\s+|\n\s*\n|\n\s*#+\s*|^\s*#+\s*|\n\s*[-*]\s+")


def number_words(number: int) -> list[str]:
    """Spells a whole number below a trillion: 42 -> ["forty", "two"]."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        tens, ones = divmod(number, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return [_ONES[hundreds], "hundred"] + (number_words(rest) if rest else [])
    for size, name in _LARGE:
        if number >= size:
            count, rest = divmod(number, size)
            return [*number_words(count), name] + (number_words(rest) if rest else [])
    raise AssertionError("unreachable")


def year_words(year: int) -> list[str]:
    """Spells a year as it is said: 1840 -> eighteen forty, 1905 -> nineteen oh five,
    1900 -> nineteen hundred, 2008 -> two thousand eight, 2024 -> twenty twenty four."""
    century, rest = divmod(year, 100)
    if 2000 <= year < 2010:
        return number_words(year)
    if rest == 0:
        return [*number_words(century), "hundred"]
    if rest < 10:
        return [*number_words(century), "oh", _ONES[rest]]
    return [*number_words(century), *number_words(rest)]


def _ordinal(word: str) -> str:
    if word in _ORDINALS:
        return _ORDINALS[word]
    return word[:-1] + "ieth" if word.endswith("y") else word + "th"


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _spoken_number(token: str) -> list[str]:
    """A number token (``_WORD``) as words."""
    if "," in token:
        return number_words(int(token.replace(",", "")))
    if "." in token:
        whole, fraction = token.split(".")
        return [*_spoken_number(whole), "point", *(_ONES[int(d)] for d in fraction)]
    digits = token.rstrip("'sndrth")
    suffix = token[len(digits) :].lstrip("'")
    if len(digits) >= 13:
        return [_ONES[int(d)] for d in digits]  # a code, read digit by digit
    number = int(digits)
    words = year_words(number) if len(digits) == 4 and number in _YEARS else number_words(number)
    if suffix == "s":
        words[-1] = _plural(words[-1])  # a decade: the 1770s, the 80s
    elif suffix:
        words[-1] = _ordinal(words[-1])
    return words


def phrase_words(phrase: str) -> list[str]:
    """The words of a phrase as the dictionary spells them: lower case, numbers spelled out."""
    words: list[str] = []
    for token in _WORD.findall(phrase.lower().replace("\u2019", "'")):
        if token == "%":
            words.append("percent")
        elif token[0].isdigit():
            words.extend(_spoken_number(token))
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
