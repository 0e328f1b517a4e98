"""The tutor's instructions and the fixed things it says (greetings, honest limits, checks).

A request's system messages are the tutor's prompt (each tutor its own); a conversation without
one gets ``DEFAULT_TUTOR_PROMPT``. Both engines follow the prompt: Ollama reads it, and the
retrieval engine, which cannot read instructions, looks for the one thing it can do on request:
ending an answer with a question that checks understanding (``asks_for_check``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llm_svc.tutoring.questions import QuestionType

DEFAULT_TUTOR_PROMPT = (
    "You are a friendly, patient tutor talking with a student. Answer the question the student "
    "asked, briefly and clearly, using your notes. After each answer, ask one short question "
    "to check that the student understood."
)
#: Added for every engine that writes its own text: answers are spoken, not read.
SPEECH_INSTRUCTION = (
    "Your reply is spoken aloud by a voice. Answer the question that was asked in at most "
    "about 60 words (more only when the student asks for more detail), in plain spoken "
    "sentences: no headings, lists, markdown, emoji or links."
)
#: How the notes are introduced to a language model (each note carries its id).
NOTES_PREAMBLE = (
    "Notes from the tutor's knowledge base, each with its id in brackets. Answer from these "
    "notes; do not contradict them and do not read out the ids. If they do not cover the "
    "question, say honestly that you have no material about it and name what you can help with."
)
NO_NOTES_TEXT = (
    "You have no notes that match this question: say honestly that you have no material about "
    "it instead of guessing."
)

# "check (that the student) understood", "check their understanding", "comprehension question".
_CHECK_REQUEST = re.compile(
    r"\bcheck\w*\b[^.!?]{0,60}?\b(?:understand\w*|understood|learn\w*|follow\w*)"
    r"|\bcomprehension (?:check|question)s?\b|\bquiz (?:the student|them|me)\b",
    re.IGNORECASE,
)
_LEADING_ARTICLE = re.compile(r"^(?:The|A|An|How|What|Why|Where|When|Who)\b")


def tutor_prompt(system_messages: Sequence[str]) -> str:
    """The tutor's instructions: its system messages, or the default prompt when it has none."""
    written = "\n\n".join(m.strip() for m in system_messages if m.strip())
    return written or DEFAULT_TUTOR_PROMPT


def asks_for_check(prompt: str) -> bool:
    """Whether the prompt asks the tutor to check the student's understanding."""
    return bool(_CHECK_REQUEST.search(prompt))


def topic_name(heading: str) -> str:
    """A heading or title as said inside a sentence ("The water cycle" -> "the water cycle")."""
    heading = heading.split(":")[0].strip()
    rest = heading[1:]
    if _LEADING_ARTICLE.match(heading) or (heading[:1].isupper() and rest == rest.lower()):
        # Sentence-case titles ("Fractions", "Adding, subtracting and dividing") read in
        # lower case; other capitals ("Ancient Rome") are kept as names.
        return heading[0].lower() + rest
    return heading


def spoken_list(names: Sequence[str], *, limit: int = 4) -> str:
    """ "a, b, c and d" (at most ``limit`` names, then "and more")."""
    names = list(dict.fromkeys(n for n in names if n))
    if len(names) > limit:
        return ", ".join(names[:limit]) + " and more"
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def help_offer(topics: Sequence[str]) -> str:
    """What the tutor can help with, from its documents' titles."""
    names = [topic_name(t) for t in topics]
    return f"I can help with {spoken_list(names)}." if names else ""


def check_question(kind: QuestionType, subject: str, turn_number: int) -> str:
    """A short question that checks the student understood the answer just given.

    Args:
        kind: The type of the question answered.
        subject: What it was about, in the student's words ("a fraction"); may be empty.
        turn_number: Which answer of the conversation this is (the wording varies with it).
    """
    if kind is QuestionType.DEFINITION and subject and len(subject.split()) <= 5:
        return f"Can you tell me in your own words what {subject} is?"
    if kind is QuestionType.REASON:
        return "Can you explain in your own words why that happens?"
    if kind is QuestionType.PROCESS:
        return "Can you tell me the main steps in your own words?"
    generic = (
        "Can you say that back to me in your own words?",
        "What is one thing you learned from that?",
        "Does that make sense? Can you tell me the main idea?",
    )
    return generic[turn_number % len(generic)]


GREETING = "Hello! I'm your tutor."
THANKS = "You're welcome!"
GOODBYE = "Goodbye! Well done today, and come back any time."
ASK_SOMETHING = "What would you like to know?"
NOTHING_YET = "We haven't talked about anything yet. What would you like me to explain?"
NO_KNOWLEDGE = (
    "I don't have any notes to teach from yet, so I can't answer questions about a subject. "
    "Once your teacher adds notes for me, I can explain them, give examples and check what "
    "you understood."
)
CLARIFY = "I'm not sure I heard you right. Did you mean {topic}?"
CLARIFY_NOTHING = "Sorry, I didn't catch that. Could you say it again?"
MISHEARD = "Sorry about that. Could you ask your question again, in other words?"
SIMPLER_OPENER = "In simple words:"
NOT_UNDERSTOOD_OPENER = "That's okay, let me put it another way."
NO_EXAMPLE = "My notes have no example of that. Here is the main idea again:"
NOTHING_MORE = "That's everything my notes say about it."
ACKNOWLEDGE = "Great! What else would you like to know?"
CLARIFY_PATTERN = re.compile(r"Did you mean (.+?)\?\s*$")
#: The end of a reply that asked a question checking understanding (``check_question``).
CHECK_PATTERN = re.compile(
    r"(?:in your own words[^?]*|one thing you learned from that|tell me the main idea)\?\s*$"
)
RIGHT = "Yes, that's right, well done!"
NOT_QUITE = "Not quite."
NO_ATTEMPT = "That's okay."
AFTER_RIGHT = "What would you like to know next?"
AFTER_NOT_QUITE = "Would you like me to say it more simply?"
