"""Reading a turn from the conversation: what the student wants now, and about which topic.

The service is stateless: every request carries the conversation, and the topic is re-read
from it each time. Walking through the student's messages in order, a message that names a
topic sets it; a follow-up ("where does it happen?"), a request ("simpler", "an example") or a
"yes" to "Did you mean the water cycle?" keeps or confirms it. The result says what to search
for and which words pick the sentences of the answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llm_svc.engines.base import ChatMessage, KnowledgeSource
from llm_svc.knowledge.documents import PassageHit
from llm_svc.tutoring.intents import (
    Intent,
    normalize,
    read_intent,
    sounds_like_a_question,
    topic_words,
)
from llm_svc.tutoring.prompts import CHECK_PATTERN, CLARIFY_PATTERN, asks_for_check, tutor_prompt
from llm_svc.tutoring.questions import (
    QuestionType,
    is_follow_up,
    question_type,
    strip_type_words,
)

Terms = Callable[[str], list[str]]

# Replies of the tutor that "tell me more" and "another example" do not repeat.
_RECENT = 3
# Intents that only open a message; with words of a topic after them, the message is a question.
_PREFACES = (Intent.GREETING, Intent.THANKS, Intent.GOODBYE, Intent.YES, Intent.NO)
# Intents about the topic already on the table (unless the message names another).
_ON_TOPIC = (
    Intent.SIMPLER,
    Intent.NOT_UNDERSTOOD,
    Intent.EXAMPLE,
    Intent.MORE_DETAIL,
    Intent.REPEAT,
)


@dataclass(frozen=True)
class Topic:
    """What the conversation is about: the question that set it, and its type, and the latest
    follow-up on it ("how many chambers does it have?"), which "simpler" or "I don't
    understand" are about."""

    text: str
    kind: QuestionType
    detail: str = ""


@dataclass(frozen=True)
class Turn:
    """The student's latest message, read in the light of the conversation."""

    #: The tutor's instructions (its system messages, or the default prompt).
    prompt: str
    #: The prompt asks for a question that checks understanding after each answer.
    check_understanding: bool
    intent: Intent
    #: A greeting or thanks that opened a question ("hi, what is a fraction").
    preface: Intent | None
    #: The topic after this message (None: none yet).
    topic: Topic | None
    #: Text to rank passages by; empty when nothing is to be searched.
    query: str
    #: For a follow-up, the topic the passages' documents must be about (find_passages).
    must_cover: str | None
    #: The student's own words that pick sentences (the question, or the topic for requests).
    focus: str
    kind: QuestionType
    #: The last thing the tutor said ("" at the start).
    last_reply: str
    #: The tutor's last few replies, oldest first: what "tell me more" must not say again.
    recent_replies: str
    #: A topic the tutor asked about ("Did you mean X?") in its last reply, if it did.
    offered_topic: str
    #: The student said yes to "Did you mean ...?": the query is what was heard badly.
    confirmed: bool
    #: Answers the tutor has given so far.
    tutor_turns: int

    @property
    def subject(self) -> str:
        """What the topic is, in the student's words ("what is a fraction" -> "a fraction")."""
        if self.topic is None:
            return ""
        words = normalize(self.topic.text).split()
        for lead in (("what", "is"), ("what", "are"), ("what's",), ("whats",), ("define",)):
            if tuple(words[: len(lead)]) == lead:
                return " ".join(words[len(lead) :])
        return ""


def read_turn(messages: Sequence[ChatMessage], terms: Terms) -> Turn:
    """Reads the latest user message of ``messages`` in the light of those before it.

    Args:
        messages: The conversation, oldest first (system messages are the tutor's prompt).
        terms: The search terms of a text (the knowledge base's analyzer).
    """
    prompt = tutor_prompt([m.content for m in messages if m.role == "system"])
    topic: Topic | None = None
    last_reply = ""
    tutor_turns = 0
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    latest = users[-1] if users else -1
    last_question = ""
    for index, message in enumerate(messages):
        if message.role == "assistant":
            last_reply = message.content
            tutor_turns += 1
        elif message.role == "user" and index != latest:
            topic = _step(message.content, topic, last_reply, last_question, terms).topic
            last_question = message.content
    text = messages[latest].content if latest >= 0 else ""
    step = _step(text, topic, last_reply, last_question, terms)
    offered = CLARIFY_PATTERN.search(last_reply)
    return Turn(
        prompt=prompt,
        check_understanding=asks_for_check(prompt),
        intent=step.intent,
        preface=step.preface,
        topic=step.topic,
        query=step.query,
        must_cover=step.must_cover,
        focus=step.focus,
        kind=step.kind,
        last_reply=last_reply,
        recent_replies=" ".join(
            m.content for m in [m for m in messages if m.role == "assistant"][-_RECENT:]
        ),
        offered_topic=offered.group(1) if offered else "",
        confirmed=step.confirmed,
        tutor_turns=tutor_turns,
    )


@dataclass(frozen=True)
class _Step:
    intent: Intent
    preface: Intent | None
    topic: Topic | None
    query: str
    must_cover: str | None
    focus: str
    kind: QuestionType
    confirmed: bool = False


def _step(
    text: str, topic: Topic | None, last_reply: str, last_question: str, terms: Terms
) -> _Step:
    """One user message: its intent, the topic after it, and what to search.

    Args:
        text: The message.
        topic: The topic before it.
        last_reply: What the tutor said before it.
        last_question: The student's message before it.
        terms: The search terms of a text.
    """
    reading = read_intent(text)
    intent, preface = reading.intent, None
    named = topic_words(reading.remainder)
    offered = CLARIFY_PATTERN.search(last_reply)
    if intent is Intent.YES and offered and not terms(named):
        # "Did you mean the water cycle?" - "yes": the question heard badly is answered from
        # the documents about the offered topic, as a follow-up of it would be.
        heard = last_question or offered.group(1)
        confirmed = Topic(offered.group(1), QuestionType.DEFINITION, detail=heard)
        kind = question_type(heard)
        return _Step(
            Intent.QUESTION, None, confirmed, heard, confirmed.text, heard, kind, confirmed=True
        )
    if intent in _PREFACES and terms(named):
        intent, preface = Intent.QUESTION, intent
        text = reading.remainder
    if intent in _ON_TOPIC:
        if terms(named):  # "an example of a fraction": the request names a new topic
            topic = Topic(named, topic.kind if topic else QuestionType.DEFINITION)
        if topic is None:
            return _Step(intent, None, None, "", None, "", QuestionType.OTHER)
        if topic.detail:
            detail = topic.detail
            return _Step(intent, None, topic, detail, topic.text, "", question_type(detail))
        return _Step(intent, None, topic, topic.text, None, "", topic.kind)
    if intent is not Intent.QUESTION:
        return _Step(intent, None, topic, "", None, "", QuestionType.OTHER)
    if topic is not None and CHECK_PATTERN.search(last_reply) and not sounds_like_a_question(text):
        # "Can you tell me in your own words what a fraction is?" - "a part of a whole": the
        # student's answer, checked against what was said about the topic.
        if topic.detail:
            return _Step(Intent.ATTEMPT, None, topic, topic.detail, topic.text, text, topic.kind)
        return _Step(Intent.ATTEMPT, None, topic, topic.text, None, text, topic.kind)
    own = terms(text)
    kind = question_type(text)
    if topic is not None and is_follow_up(text, own):
        # "how does it make clouds?": ranked by its own words within documents about the topic
        # (find_passages), sentences picked by its own words and type.
        followed = Topic(topic.text, topic.kind, detail=text)
        return _Step(intent, preface, followed, text, topic.text, text, kind)
    if not own:
        return _Step(intent, preface, topic, "", None, text, kind)
    # "The difference between adding and subtracting" is searched as "adding subtracting".
    query = strip_type_words(text) if kind is QuestionType.DIFFERENCE else text
    return _Step(intent, preface, Topic(text, kind), query, None, text, kind)


def find_passages(knowledge: KnowledgeSource, turn: Turn, *, limit: int) -> list[PassageHit]:
    """The passages for a turn, best first (blocking).

    A follow-up is ranked by its own words among the documents about its topic; when its words
    match nothing there ("where does it happen?"), by the topic and its words together.
    """
    if not turn.query:
        return []
    if turn.confirmed:  # "whether in climb it", confirmed, is searched as "weather climate"
        turn = dataclasses.replace(turn, query=knowledge.reread(turn.query))
    hits = knowledge.search(turn.query, limit=limit, must_cover=turn.must_cover)
    if not hits and turn.must_cover is not None:
        combined = f"{turn.must_cover} {turn.query}"
        hits = knowledge.search(combined, limit=limit, must_cover=turn.must_cover)
    return hits
