"""Cuts text that arrives in pieces (LLM tokens, partial words) into speakable segments.

A segment ends at a sentence end, at a line break, or at a clause boundary (comma, semicolon,
colon, dash) once it holds at least ``min_clause_words`` words, so speech can start before a
long sentence is complete. The first segment may end at a clause boundary sooner (after
``first_clause_words``), because the listener waits for it: every later one is cut while
earlier audio plays. Periods that do not end sentences are kept inside: titles
("Dr. Smith"), Latin abbreviations ("e.g."), initials ("J. R. R. Tolkien"), dotted acronyms
followed by a lower-case word ("the U.S. government"), decimals ("3.14") and list numbers.
A boundary is decided only when the character after it has arrived (or on flush), because
"3." may become "3.14" and "U.S." may continue the sentence.
"""

from __future__ import annotations

import re

SENTENCE_END = ".!?…"
CLAUSE_END = ",;:"
DASHES = "—–"  # em and en dash; a hyphen counts only between spaces (" - ")
CLOSERS = "\"')]}”’»"
OPENERS = "\"'([{“‘«"

# Abbreviations after which a period never ends a sentence: they introduce what follows.
NEVER_FINAL = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "gen", "col", "capt", "lt", "sgt",
        "st", "mt", "fr", "sr", "jr", "vs", "cf", "viz", "e.g", "i.e", "approx", "no", "fig",
        "vol", "ch", "sec", "pp",
    }
)  # fmt: skip
# Abbreviations that end a sentence only when the next word starts with a capital.
MAYBE_FINAL = frozenset({"etc", "inc", "ltd", "co", "corp", "dept", "est", "al", "a.m", "p.m"})
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, e.g, i.e, a.m
_INITIAL = re.compile(r"[A-Z]")
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"\w")
_MARKDOWN = re.compile(r"[*`#]+|(?<!\w)_+|_+(?!\w)")
_SPACES = re.compile(r"\s+")


class TextSegmenter:
    """Accumulates text and returns the segments that are complete.

    Args:
        min_clause_words: A clause boundary cuts only after this many words.
        first_clause_words: The same for the first segment (default: ``min_clause_words``).
        max_segment_chars: Text without any boundary is cut at a word boundary past this
            length, so a run-on text cannot hold back speech (or memory) indefinitely.
    """

    def __init__(
        self,
        *,
        min_clause_words: int = 6,
        first_clause_words: int | None = None,
        max_segment_chars: int = 400,
    ) -> None:
        first_clause_words = first_clause_words or min_clause_words
        if min(min_clause_words, first_clause_words) < 1 or max_segment_chars < 20:
            raise ValueError("clause words >= 1 and max_segment_chars >= 20 required")
        self.min_clause_words = min_clause_words
        self.first_clause_words = first_clause_words
        self._segments_cut = 0
        self.max_segment_chars = max_segment_chars
        self._buffer = ""
        self._scan = 0  # characters of the buffer already known not to end a segment

    @property
    def pending(self) -> str:
        """Text received but not yet returned in a segment."""
        return self._buffer

    def push(self, text: str) -> list[str]:
        """Adds text exactly as received; returns the segments it completes, in order."""
        self._buffer += text
        segments: list[str] = []
        while (cut := self._next_cut()) is not None:
            self._emit(cut, segments)
        while len(self._buffer) > self.max_segment_chars:
            self._emit(self._forced_cut(), segments)
        return segments

    def flush(self) -> list[str]:
        """Ends the pending text where it is (a flush message or the end of the stream)."""
        segments: list[str] = []
        self._emit(len(self._buffer), segments)
        return segments

    # --- internals --------------------------------------------------------------------------

    def _emit(self, cut: int, segments: list[str]) -> None:
        segment = spoken_text(self._buffer[:cut])
        self._buffer = self._buffer[cut:].lstrip()
        self._scan = 0
        if _WORD.search(segment):  # punctuation alone is not worth a segment
            segments.append(segment)
            self._segments_cut += 1

    def _clause_words(self) -> int:
        return self.first_clause_words if self._segments_cut == 0 else self.min_clause_words

    def _forced_cut(self) -> int:
        space = self._buffer.rfind(" ", 0, self.max_segment_chars)
        return space + 1 if space > 0 else self.max_segment_chars

    def _next_cut(self) -> int | None:
        """Index just past the first segment boundary, or None if none is decided yet."""
        text = self._buffer
        i = self._scan
        while i < len(text):
            ch = text[i]
            if ch == "\n":
                return i + 1
            if ch in SENTENCE_END:
                end = i
                while end < len(text) and text[end] in SENTENCE_END:
                    end += 1
                after = end
                while after < len(text) and text[after] in CLOSERS:
                    after += 1
                if after == len(text):
                    break  # undecided until the next character arrives
                if text[after].isspace():
                    decision = self._ends_sentence(text, i, end, after)
                    if decision is None:
                        break
                    if decision:
                        return after
                i = after
                continue
            if ch in CLAUSE_END or ch == "-" or ch in DASHES:
                is_boundary = self._is_clause_boundary(text, i)
                if is_boundary is None:
                    break
                if is_boundary:
                    return i + 1
            i += 1
        self._scan = i
        return None

    def _is_clause_boundary(self, text: str, i: int) -> bool | None:
        ch = text[i]
        if ch == "-" and (i == 0 or not text[i - 1].isspace()):
            return False  # a hyphen inside a word ("well-known")
        if ch not in DASHES:
            if i + 1 == len(text):
                return None
            if not text[i + 1].isspace():
                return False  # "1,000", "10:30", "x-ray"
        return _count_words(text[:i]) >= self._clause_words()

    def _ends_sentence(self, text: str, start: int, end: int, after: int) -> bool | None:
        """Whether the terminator text[start:end], followed by whitespace, ends a sentence."""
        marks = text[start:end]
        if "!" in marks or "?" in marks:
            return True
        if marks in ("...", "…") or len(marks) > 1:
            # An ellipsis trails off mid-thought as often as it ends one: treat it as a clause.
            return _count_words(text[:start]) >= self._clause_words()
        token = text[:start].rsplit(None, 1)[-1] if text[:start].strip() else ""
        token = token.lstrip(OPENERS)
        lowered = token.lower()
        if lowered in NEVER_FINAL or _INITIAL.fullmatch(token):
            return False
        if _NUMBER.fullmatch(token) and _count_words(text[:start]) == 1:
            return False  # a list number: "1. Open the lid."
        if lowered in MAYBE_FINAL or _DOTTED.fullmatch(token):
            following = after
            while following < len(text) and text[following].isspace():
                following += 1
            while following < len(text) and text[following] in OPENERS:
                following += 1
            if following == len(text):
                return None
            return text[following].isupper()
        return True


def spoken_text(text: str) -> str:
    """A segment as it is spoken: markdown emphasis and code marks removed, spaces collapsed."""
    return _SPACES.sub(" ", _MARKDOWN.sub("", text)).strip()


def _count_words(text: str) -> int:
    return sum(1 for token in text.split() if _WORD.search(token))
