"""The conversation a language model (Ollama) gets: the same tutor as the retrieval engine.

The model sees, in order: the tutor's prompt (or the default one) with the instruction to
answer briefly for speech; the knowledge passages found for the question (follow-ups searched
with their topic), each with its id, or a note that nothing matched; the most recent history
that fits a token budget; the student's message. The passages come back as citations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llm_svc.engines.base import ChatMessage
from llm_svc.knowledge.documents import PassageHit
from llm_svc.tutoring.prompts import NO_NOTES_TEXT, NOTES_PREAMBLE, SPEECH_INSTRUCTION

# Characters per token for budgeting history: about right for English text and the tokenizers
# of common open models; an estimate is enough to keep the prompt within bounds.
_CHARS_PER_TOKEN = 4


def passage_id(hit: PassageHit) -> str:
    """A passage's id in the prompt, matching its citation: ``<document id>#<passage index>``."""
    return f"{hit.passage.document_id}#{hit.passage.index}"


def estimate_tokens(text: str) -> int:
    """Roughly how many tokens ``text`` is (about four characters each)."""
    return max(1, math.ceil(len(text) / _CHARS_PER_TOKEN))


def notes_message(passages: Sequence[PassageHit]) -> str:
    """The system message with the passages, each with its id, section and title."""
    if not passages:
        return NO_NOTES_TEXT
    lines = []
    for hit in passages:
        where = hit.passage.title
        if hit.passage.section and hit.passage.section != hit.passage.title:
            where = f"{where}, {hit.passage.section}"
        lines.append(f"[{passage_id(hit)}] ({where}) {hit.passage.text}")
    return NOTES_PREAMBLE + "\n\n" + "\n".join(lines)


def recent_history(messages: Sequence[ChatMessage], budget_tokens: int) -> list[ChatMessage]:
    """The latest user and assistant messages whose estimated tokens fit ``budget_tokens``.

    Whole messages are kept, newest first; the kept history starts with a user message, so a
    model never sees a reply without what it answered.
    """
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(messages):
        cost = estimate_tokens(message.content)
        if used + cost > budget_tokens:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def chat_messages(
    prompt: str,
    messages: Sequence[ChatMessage],
    passages: Sequence[PassageHit] | None,
    *,
    history_tokens: int,
) -> list[dict[str, str]]:
    """The messages to send the model.

    Args:
        prompt: The tutor's instructions (``conversation.Turn.prompt``).
        messages: The conversation as the request sent it, ending with the student's message.
        passages: Knowledge found for the message; None when the tutor has no knowledge base
            (the model answers ungrounded, as the contract says), empty when nothing matched.
        history_tokens: Budget for the earlier user and assistant messages.
    """
    dialogue = [m for m in messages if m.role != "system"]
    latest = dialogue[-1:] if dialogue and dialogue[-1].role == "user" else []
    earlier = dialogue[: len(dialogue) - len(latest)]
    converted = [{"role": "system", "content": f"{prompt}\n\n{SPEECH_INSTRUCTION}"}]
    if passages is not None:
        converted.append({"role": "system", "content": notes_message(passages)})
    converted += [
        {"role": m.role, "content": m.content} for m in recent_history(earlier, history_tokens)
    ]
    converted += [{"role": m.role, "content": m.content} for m in latest]
    return converted
