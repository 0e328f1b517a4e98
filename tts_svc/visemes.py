"""Phonemes -> the 15-viseme set, for espeak-ng's mnemonics and for IPA (Piper voices).

espeak reports phonemes by its own ASCII mnemonics (Kirshenbaum-like: "T" is the "th" of
"thin", "N" the "ng" of "sing", "@" schwa, "oU" the vowel of "toe", "_" a pause). Piper voices
speak IPA, one code point per phoneme symbol ("ʃ", "ɪ", "ə"). Consonants map by their
articulation; vowels and diphthongs by the shape the mouth opens into first.
"""

from __future__ import annotations

import unicodedata

from svc_core.visemes import Viseme

_CONSONANTS: dict[str, Viseme] = {
    "p": Viseme.PP,
    "b": Viseme.PP,
    "m": Viseme.PP,
    "f": Viseme.FF,
    "v": Viseme.FF,
    "T": Viseme.TH,
    "D": Viseme.TH,
    "t": Viseme.DD,
    "d": Viseme.DD,
    "*": Viseme.DD,
    "?": Viseme.DD,
    "k": Viseme.KK,
    "g": Viseme.KK,
    "N": Viseme.KK,
    "h": Viseme.KK,
    "x": Viseme.KK,
    "tS": Viseme.CH,
    "dZ": Viseme.CH,
    "S": Viseme.CH,
    "Z": Viseme.CH,
    "s": Viseme.SS,
    "z": Viseme.SS,
    "n": Viseme.NN,
    "l": Viseme.NN,
    "r": Viseme.RR,
    "R": Viseme.RR,
    "w": Viseme.OU,
    "j": Viseme.IH,
}

# First letter of a vowel or diphthong -> the shape it opens with.
_VOWELS: dict[str, Viseme] = {
    "a": Viseme.AA,
    "A": Viseme.AA,
    "V": Viseme.AA,
    "0": Viseme.OH,
    "e": Viseme.E,
    "E": Viseme.E,
    "@": Viseme.E,
    "3": Viseme.E,
    "i": Viseme.IH,
    "I": Viseme.IH,
    "y": Viseme.IH,
    "Y": Viseme.IH,
    "o": Viseme.OH,
    "O": Viseme.OH,
    "u": Viseme.OU,
    "U": Viseme.OU,
}

# Stress and length marks that may decorate a mnemonic.
_DECORATIONS = "'`,:;#!-^=~"


def viseme_for_phoneme(phoneme: str) -> Viseme:
    """The mouth shape for an espeak phoneme mnemonic (pauses and unknowns: silence)."""
    if not phoneme or phoneme.startswith("_"):
        return Viseme.SIL
    core = phoneme.strip(_DECORATIONS) or phoneme
    for length in (2, 1):
        consonant = _CONSONANTS.get(core[:length]) if len(core) >= length else None
        if consonant is not None:
            return consonant
    vowel = _VOWELS.get(core[0])
    return vowel if vowel is not None else Viseme.SIL


# IPA symbols, one code point each (Piper decomposes its phonemes so). Affricates arrive as
# two symbols ("t" + "ʃ") and so open with the stop's shape, as the mouth does.
_IPA: dict[str, Viseme] = {
    **dict.fromkeys("pbmɓ", Viseme.PP),
    **dict.fromkeys("fvɸβ", Viseme.FF),
    **dict.fromkeys("θð", Viseme.TH),
    **dict.fromkeys("tdɾʔɗʈɖ", Viseme.DD),
    **dict.fromkeys("kgɡŋhxɣqɢχħɦ", Viseme.KK),
    **dict.fromkeys("ʃʒçɕʑ", Viseme.CH),
    **dict.fromkeys("szʂʐ", Viseme.SS),
    **dict.fromkeys("nlɫɬɮɲɳɭʎ", Viseme.NN),
    **dict.fromkeys("ɹrʁɻʀɚɝ", Viseme.RR),
    **dict.fromkeys("aæɐɑʌɶ", Viseme.AA),
    **dict.fromkeys("eɛəɜɘɞ", Viseme.E),
    **dict.fromkeys("iɪyʏᵻɨjɥ", Viseme.IH),
    **dict.fromkeys("oɔɒøœɤ", Viseme.OH),
    **dict.fromkeys("uʊɯʉwʍ", Viseme.OU),
}


def viseme_for_ipa(symbol: str) -> Viseme | None:
    """The mouth shape for one IPA symbol; None for what is not a sound of its own (stress
    and length marks, combining diacritics, spaces), SIL for punctuation and unknowns."""
    if not symbol or symbol.isspace() or _is_combining(symbol):
        return None
    return _IPA.get(symbol, Viseme.SIL)


def _is_combining(symbol: str) -> bool:
    return unicodedata.combining(symbol[0]) != 0 or unicodedata.category(symbol[0]) == "Lm"
