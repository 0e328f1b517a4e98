"""Plain, speakable text from lightly marked-up document blocks.

Teachers paste notes from word processors, web pages and Markdown. An answer is read aloud, so
nothing of the layout may reach it: headings (marked with ``#`` or not: a short first line
without a full stop), list bullets and numbers, emphasis, inline code and link targets. Issue
16: answers read "Where volcanoes are found Most volcanoes ..." because a plain-text heading
was joined to the paragraph under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKED_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•–]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+(.*)$")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_QUOTE = re.compile(r"^\s*>+\s?")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_ENDS_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*$")
# A plain-text heading: one short line that does not end like a sentence or lead into a list.
_HEADING_MAX_WORDS = 10
_HEADING_MAX_CHARS = 90
# List items this short and unpunctuated are read as one spoken list ("lava, ash and gas").
_SHORT_ITEM_WORDS = 6


@dataclass(frozen=True)
class Block:
    """A paragraph of a document: the heading that opens it, if any, and its spoken text."""

    heading: str
    text: str


def clean_inline(line: str) -> str:
    """``line`` without emphasis marks, inline-code backticks, link targets or quote marks."""
    line = _QUOTE.sub("", line)
    line = _IMAGE_OR_LINK.sub(r"\1", line)
    previous = None
    while previous != line:  # nested emphasis ("***bold italic***", "**a `b`**")
        previous = line
        line = _EMPHASIS.sub(r"\2", line)
    if line.strip().startswith("|"):  # a table row: its cells, read as a list
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        line = ", ".join(cell for cell in cells if cell)
    return " ".join(line.split())


def is_plain_heading(line: str) -> bool:
    """Whether a line standing first in its block reads as a title rather than a sentence."""
    words = line.split()
    return (
        0 < len(words) <= _HEADING_MAX_WORDS
        and len(line) <= _HEADING_MAX_CHARS
        and not _ENDS_SENTENCE.search(line)
        and not line.endswith((":", ";", ","))
        and any(ch.isalpha() for ch in line)
    )


def split_block(lines: list[str], *, last_block: bool) -> list[Block]:
    """The headings and paragraphs of one blank-line-separated block of a document.

    Args:
        lines: The block's lines, stripped.
        last_block: Whether nothing follows this block: a lone short line there is text (a
            one-line note without a full stop), not the heading of nothing.

    Returns:
        Blocks in order; a block's text is empty when only a heading stood there.
    """
    blocks: list[Block] = []
    heading = ""
    body: list[str] = []
    items: list[str] = []

    def close_items() -> None:
        if items:
            body.append(_spoken_list(body, items))
            items.clear()

    def close_paragraph() -> None:
        close_items()
        if body or heading:
            blocks.append(Block(heading, " ".join(" ".join(body).split())))
        body.clear()

    content = [line for line in lines if line and not _RULE.match(line)]
    for position, raw in enumerate(content):
        marked = _MARKED_HEADING.match(raw)
        if marked:
            close_paragraph()
            heading = clean_inline(marked.group(1))
            continue
        if _TABLE_RULE.match(raw):
            continue
        item = _LIST_ITEM.match(raw)
        if item:
            items.append(clean_inline(item.group(1)))
            continue
        line = clean_inline(raw)
        if not line:
            continue
        alone = len(content) == 1
        first_of_block = position == 0 and not blocks and not body and not items
        if first_of_block and is_plain_heading(line) and _opens_section(content, alone, last_block):
            heading = line
            if alone:
                blocks.append(Block(heading, ""))
                return blocks
            continue
        close_items()
        body.append(line)
    close_paragraph()
    return blocks


def _opens_section(content: list[str], alone: bool, last_block: bool) -> bool:
    """Whether a heading-like first line heads what follows it.

    A line alone in its block heads the next block (unless none follows). Otherwise the next
    line must start a sentence or a list: a hard-wrapped sentence goes on in lower case.
    """
    if alone:
        return not last_block
    following = content[1]
    return bool(_LIST_ITEM.match(following)) or following[:1].isupper() or following[:1].isdigit()


def _spoken_list(body: list[str], items: list[str]) -> str:
    """List items as text to speak.

    After a lead-in ending in a colon the list is one sentence, as it would be said: short
    items as "lava, ash and gas", longer ones joined by semicolons. Without a lead-in, each
    item is a sentence of its own.
    """
    short = all(
        len(item.split()) <= _SHORT_ITEM_WORDS and not _ENDS_SENTENCE.search(item) for item in items
    )
    if body and body[-1].endswith(":"):
        if short:  # "Volcanoes give off:" + "lava", "ash", "gas" -> "... off: lava, ash and gas."
            return _and_list(items) + "."
        parts = [item.rstrip(".;,") for item in items]
        if len(parts) > 1:
            parts[-1] = "and " + parts[-1]
        return "; ".join(parts) + "."
    return " ".join(
        _capitalized(item if _ENDS_SENTENCE.search(item) else f"{item}.") for item in items
    )


def _capitalized(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _and_list(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
