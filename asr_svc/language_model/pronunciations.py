"""Pronunciations: the recognizer's dictionary, and espeak-ng for the words it lacks.

A tutor's documents name things no general dictionary has ("sinoatrial", "lahar"). espeak-ng
knows how to say almost any English spelling; its IPA phonemes are mapped here to the CMU
phone set that pocketsphinx's acoustic model uses.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from asr_svc.language_model.words import base_word

logger = logging.getLogger(__name__)

# IPA (as espeak-ng writes it for en-us, stress and length marks removed) -> CMU phones.
_IPA_TO_CMU: dict[str, tuple[str, ...]] = {
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "ɡ": ("G",), "g": ("G",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",),
    "ʃ": ("SH",), "ʒ": ("ZH",), "h": ("HH",), "x": ("HH",), "tʃ": ("CH",), "dʒ": ("JH",),
    "m": ("M",), "n": ("N",), "ŋ": ("NG",), "l": ("L",), "ɹ": ("R",), "r": ("R",),
    "w": ("W",), "j": ("Y",), "ɾ": ("T",), "ʔ": (),
    "i": ("IY",), "ɪ": ("IH",), "ᵻ": ("IH",), "e": ("EH",), "ɛ": ("EH",), "æ": ("AE",),
    "a": ("AA",), "ɑ": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "o": ("OW",), "ʊ": ("UH",),
    "u": ("UW",), "ʌ": ("AH",), "ə": ("AH",), "ɐ": ("AH",), "ɜ": ("ER",), "ɚ": ("ER",),
    "eɪ": ("EY",), "aɪ": ("AY",), "aʊ": ("AW",), "ɔɪ": ("OY",), "oʊ": ("OW",),
    "əʊ": ("OW",), "ɪə": ("IH", "R"), "eə": ("EH", "R"), "ʊə": ("UH", "R"),
    "ɑɹ": ("AA", "R"), "ɔɹ": ("AO", "R"), "oɹ": ("AO", "R"), "ɛɹ": ("EH", "R"),
    "ɪɹ": ("IH", "R"), "ʊɹ": ("UH", "R"), "ɜɹ": ("ER",), "əɹ": ("ER",), "aɪɚ": ("AY", "ER"),
    "aɪə": ("AY", "ER"), "iə": ("IY", "AH"),
}  # fmt: skip
_MARKS = str.maketrans("", "", "ˈˌːˑ̩̃̆‿")


def read_dictionary(path: Path) -> dict[str, list[str]]:
    """A pronunciation dictionary: word -> its lines (every pronunciation), as in the file."""
    entries: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            head = line.split(maxsplit=1)
            if len(head) == 2:
                entries.setdefault(base_word(head[0]), []).append(line.rstrip("\n") + "\n")
    return entries


def ipa_to_cmu(segments: Iterable[str]) -> list[str]:
    """espeak-ng's IPA phonemes (one per segment) -> CMU phones; unknown symbols are dropped."""
    phones: list[str] = []
    for segment in segments:
        symbol = segment.translate(_MARKS)
        while symbol:
            # Longest known prefix first: "aɪɚ" before "aɪ" before "a".
            for size in range(min(3, len(symbol)), 0, -1):
                mapped = _IPA_TO_CMU.get(symbol[:size])
                if mapped is not None:
                    phones.extend(mapped)
                    symbol = symbol[size:]
                    break
            else:
                symbol = symbol[1:]
    return phones


class Pronouncer:
    """Dictionary lines for words: from the dictionary, else guessed with espeak-ng.

    Args:
        dictionary: Word -> its dictionary lines, as ``read_dictionary`` returns.
        espeak: The espeak-ng program; None (or not installed) disables guessing.
    """

    def __init__(
        self, dictionary: Mapping[str, list[str]], espeak: str | None = "espeak-ng"
    ) -> None:
        self.dictionary = dictionary
        self._espeak = shutil.which(espeak) if espeak else None
        self._guessed: dict[str, str | None] = {}
        self._lock = threading.Lock()
        if espeak and self._espeak is None:
            logger.warning(
                "espeak-ng is not installed: words missing from the dictionary are dropped"
            )

    def lines(self, words: Iterable[str]) -> tuple[list[str], list[str]]:
        """Dictionary lines for ``words``, and the words nothing could pronounce.

        Words the dictionary lacks are guessed in one espeak-ng call and remembered.
        """
        words = sorted(set(words))
        missing = [w for w in words if w not in self.dictionary and w not in self._guessed]
        if missing:
            self._guess(missing)
        lines: list[str] = []
        unknown: list[str] = []
        for word in words:
            if word in self.dictionary:
                lines.extend(self.dictionary[word])
            elif (phones := self._guessed.get(word)) is not None:
                lines.append(f"{word} {phones}\n")
            else:
                unknown.append(word)
        return lines, unknown

    def _guess(self, words: list[str]) -> None:
        guesses: dict[str, str | None] = dict.fromkeys(words)
        if self._espeak is not None:
            # One word per line, each ended by a full stop: espeak-ng answers one line each.
            text = "".join(f"{word}.\n" for word in words)
            try:
                result = subprocess.run(
                    [self._espeak, "-q", "-v", "en-us", "--ipa", "--sep=_"],
                    input=text,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                )
                answers = [line.strip() for line in result.stdout.splitlines() if line.strip()]
            except (OSError, subprocess.SubprocessError) as exc:
                logger.warning("espeak-ng failed to pronounce %d words: %s", len(words), exc)
                answers = []
            if len(answers) == len(words):
                for word, answer in zip(words, answers, strict=True):
                    phones = ipa_to_cmu(answer.replace(" ", "_").split("_"))
                    guesses[word] = " ".join(phones) if phones else None
            elif answers:
                logger.warning("espeak-ng answered %d lines for %d words", len(answers), len(words))
        with self._lock:
            self._guessed.update(guesses)
