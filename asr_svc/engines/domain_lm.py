"""A domain language model for pocketsphinx, built from a stream's phrase hints.

Pocketsphinx's general English model transcribes a tutor's expected answers poorly; a small
trigram model over the hints (``pocketsphinx.lm.ArpaBoLM``) with the pronunciation dictionary
trimmed to their words recognizes them well and decodes faster.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    for token in _WORD.findall(phrase.lower()):
        if token.isdigit():
            words.extend(number_words(int(token)) if len(token) < 7 else list(token))
        else:
            words.append(token)
    return words


def base_word(dictionary_word: str) -> str:
    """ "capital(2)" (an alternate pronunciation) -> "capital"."""
    return _ALTERNATE.sub("", dictionary_word)


def read_dictionary(path: Path) -> dict[str, list[str]]:
    """A pronunciation dictionary: word -> its lines (every pronunciation), as in the file."""
    entries: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            head = line.split(maxsplit=1)
            if len(head) == 2:
                entries.setdefault(base_word(head[0]), []).append(line.rstrip("\n") + "\n")
    return entries


@dataclass(frozen=True)
class DomainModel:
    """An ARPA language model and the dictionary lines of its words.

    Attributes:
        key: Identifies the hint set (equal hints, equal key), for reusing decoders.
        arpa: The language model in ARPA text format.
        dictionary: Pronunciation lines of every word the model uses.
        unknown_words: Hint words without a pronunciation, left out.
    """

    key: str
    arpa: str
    dictionary: str
    unknown_words: tuple[str, ...]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Writes the model and dictionary files; returns (lm path, dict path)."""
        lm_path, dict_path = folder / "domain.arpa", folder / "domain.dict"
        lm_path.write_text(self.arpa, encoding="utf-8")
        dict_path.write_text(self.dictionary, encoding="utf-8")
        return lm_path, dict_path


def build_domain_model(
    phrases: Sequence[str], dictionary: Mapping[str, list[str]]
) -> DomainModel | None:
    """A trigram model over ``phrases``, or None when none of their words is pronounceable.

    A phrase is cut where it has a word the dictionary lacks, so the model never learns a
    word sequence that was not in the hints.
    """
    from pocketsphinx.lm import ArpaBoLM

    sentences: list[str] = []
    unknown: set[str] = set()
    for phrase in phrases:
        run: list[str] = []
        for word in [*phrase_words(phrase), ""]:
            if word and word in dictionary:
                run.append(word)
                continue
            if word:
                unknown.add(word)
            if run:
                sentences.append(" ".join(run))
            run = []
    if not sentences:
        return None
    corpus = "\n".join(sentences)
    model = ArpaBoLM(text=corpus, add_start=True, case="lower")
    model.compute()
    arpa = io.StringIO()
    model.write(arpa)
    vocabulary = sorted({word for sentence in sentences for word in sentence.split()})
    return DomainModel(
        key=hashlib.sha256(corpus.encode()).hexdigest()[:16],
        arpa=arpa.getvalue(),
        dictionary="".join(_lines(dictionary, vocabulary)),
        unknown_words=tuple(sorted(unknown)),
    )


def _lines(dictionary: Mapping[str, list[str]], words: Iterable[str]) -> Iterable[str]:
    for word in words:
        yield from dictionary[word]
