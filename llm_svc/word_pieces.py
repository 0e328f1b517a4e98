"""Text as a language model streams it: word pieces, and the cut at a stop sequence.

Engines that have a whole text to say (the retrieval engine's answers, a question asked back)
stream it in the pieces a model's tokenizer would produce, so every consumer meets partial
words from every engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+")
# Long words are streamed in pieces, as a language model's tokenizer would cut them, so
# consumers meet partial words from every engine.
_WHOLE_WORD_CHARS = 10
_WORD_PIECE_CHARS = 6


def word_pieces(text: str) -> list[str]:
    """Cuts text into the pieces it is streamed in; joined, they give ``text`` back.

    A piece is a word or a run of punctuation with the whitespace before it; words longer
    than 10 characters are cut into pieces of 6.
    """
    pieces: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        word = piece.lstrip()
        if len(word) <= _WHOLE_WORD_CHARS:
            pieces.append(piece)
            continue
        split = len(piece) - len(word) + _WORD_PIECE_CHARS
        pieces.append(piece[:split])
        pieces.extend(
            piece[i : i + _WORD_PIECE_CHARS] for i in range(split, len(piece), _WORD_PIECE_CHARS)
        )
    return pieces


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to (not including) the earliest stop sequence, and whether one was found."""
    positions = [i for s in stop if s and (i := text.find(s)) >= 0]
    return (text[: min(positions)], True) if positions else (text, False)
