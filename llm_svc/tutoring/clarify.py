"""Asking back when the student's words were heard badly, instead of answering them.

A misheard question ("whether and climb it") finds some passage, and reading it out is a
confident wrong answer (issue 16). When the speech recognizer's confidence in the transcript is
below the threshold, the tutor asks "Did you mean ...?" with the topic of the knowledge base
closest to what it heard; "yes" then answers that topic (llm_svc.tutoring.conversation).
"""

from __future__ import annotations

from llm_svc.engines.base import KnowledgeSource
from llm_svc.knowledge.documents import PassageHit
from llm_svc.tutoring.conversation import Turn
from llm_svc.tutoring.intents import Intent
from llm_svc.tutoring.prompts import CLARIFY, CLARIFY_NOTHING, topic_name


def needs_clarifying(turn: Turn, confidence: float | None, threshold: float) -> bool:
    """Whether to ask back rather than answer: a question heard with low confidence.

    Conversational requests ("thanks", "simpler") are not asked back: answering a misheard one
    costs nothing, and asking back after each would be tiresome.
    """
    return confidence is not None and confidence < threshold and turn.intent is Intent.QUESTION


def clarifying_question(
    turn: Turn, heard: str, knowledge: KnowledgeSource | None
) -> tuple[str, PassageHit | None]:
    """ "Did you mean <closest topic>?", and the passage that topic comes from (None when
    nothing in the knowledge base is close, and the student is asked to say it again)."""
    closest = knowledge.closest(turn.query or heard) if knowledge is not None else None
    if closest is None:
        return CLARIFY_NOTHING, None
    name = closest.passage.section or closest.passage.title
    return CLARIFY.format(topic=topic_name(name)), closest
