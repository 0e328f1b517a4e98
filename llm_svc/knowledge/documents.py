"""Documents, the passages they are split into, and passages found by a search.

A passage is what retrieval returns and what an answer cites: a paragraph, or a window of
whole sentences when a paragraph is long, so each one reads well on its own (the retrieval
engine speaks sentences of it). Heading lines (``# ...``, or a short unpunctuated line that
opens a block) are not passages; they name the section of the passages that follow and count
as search text for them. List bullets and emphasis marks are removed (``markup``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm_svc.knowledge.markup import split_block

# Citations carry at most this much passage text (see llm.proto, Citation.text).
MAX_PASSAGE_CHARS = 1000
# Knowledge base and document ids (llm.proto): safe as file names, never a path.
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends at . ! or ? (optionally closed by a quote or bracket) before whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")


@dataclass(frozen=True)
class Document:
    """A document of a knowledge base, as indexed."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Passage:
    """A piece of a document that retrieval returns whole."""

    document_id: str
    title: str
    #: Position within its document, from 0.
    index: int
    text: str
    #: Heading of the section the passage is in; empty when none.
    section: str = ""

    @property
    def search_text(self) -> str:
        """What the passage is found by: its section heading and text, and for the opening
        passage the document's title.

        The title goes with the opening passage only: that is where a document introduces its
        subject, so "what is photosynthesis" finds the introduction; counted in every passage,
        the title would make them all tie on it.
        """
        title = self.title if self.index == 0 else ""
        return f"{title}\n{self.section}\n{self.text}"


@dataclass(frozen=True)
class PassageHit:
    """A passage a search found, with how well it matched."""

    passage: Passage
    #: BM25 score; comparable within one search only.
    score: float
    #: Fraction of the question's distinct search terms the passage contains, in [0, 1].
    coverage: float


def split_into_passages(document: Document, *, max_words: int = 80) -> list[Passage]:
    """Splits a document into paragraphs, and long paragraphs into sentence windows.

    Paragraphs are separated by blank lines; lines inside one are joined (hard-wrapped text
    reads as one paragraph). A window holds whole sentences up to ``max_words`` words and
    ``MAX_PASSAGE_CHARS`` characters; a longer sentence is cut at word boundaries.

    Args:
        document: The document to split.
        max_words: Most words in one passage.

    Returns:
        The passages in document order, numbered from 0.
    """
    passages: list[Passage] = []
    section = ""
    raw_blocks = [b for b in _PARAGRAPH_BREAK.split(document.text) if b.strip()]
    for number, raw in enumerate(raw_blocks):
        lines = [line.strip() for line in raw.strip().splitlines()]
        # Headings (marked or plain) name the section; bullets and emphasis are dropped, so
        # passages read aloud as plain sentences (llm_svc.knowledge.markup).
        for block in split_block(lines, last_block=number == len(raw_blocks) - 1):
            if block.heading:
                section = block.heading
            if block.text:
                passages.extend(_windows(document, block.text, section, len(passages), max_words))
    return passages


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``: each ends at . ! or ? (closing quotes kept)."""
    return _split_sentences(" ".join(text.split()))


def _windows(
    document: Document, paragraph: str, section: str, first_index: int, max_words: int
) -> list[Passage]:
    texts: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in _sentences(paragraph, max_words):
        count = len(sentence.split())
        if current and (
            words + count > max_words
            or len(" ".join(current)) + 1 + len(sentence) > MAX_PASSAGE_CHARS
        ):
            texts.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += count
    if current:
        texts.append(" ".join(current))
    return [
        Passage(document.id, document.title, first_index + offset, text, section)
        for offset, text in enumerate(texts)
    ]


def _sentences(paragraph: str, max_words: int) -> list[str]:
    """The paragraph's sentences, each cut to at most max_words words and MAX_PASSAGE_CHARS."""
    pieces: list[str] = []
    for sentence in _split_sentences(" ".join(paragraph.split())):
        current: list[str] = []
        length = 0
        for word in sentence.split(" "):
            # A single "word" longer than a passage (a URL, a data blob) is cut hard.
            while len(word) > MAX_PASSAGE_CHARS:
                if current:
                    pieces.append(" ".join(current))
                    current, length = [], 0
                pieces.append(word[:MAX_PASSAGE_CHARS])
                word = word[MAX_PASSAGE_CHARS:]
            full = len(current) >= max_words or length + 1 + len(word) > MAX_PASSAGE_CHARS
            if current and full:
                pieces.append(" ".join(current))
                current, length = [], 0
            current.append(word)
            length += len(word) + (1 if length else 0)
        if current:
            pieces.append(" ".join(current))
    return pieces


def _split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(text):
        sentences.append(text[start : end.end()].strip())
        start = end.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]
