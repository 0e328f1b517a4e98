"""What a student's message asks the tutor to do, besides (or instead of) asking a question.

"Can you explain that more simply?", "give me an example", "say that again", "I don't
understand", "tell me more", greetings and thanks are about the conversation, not a topic: they
must not be searched for in the knowledge base as if they were questions (issue 16: "can you
explain that more simply?" got "I don't have any material about that yet").

Recognition is by phrase patterns on the lower-cased text, so it works on transcripts without
punctuation. The words left once the phrase is removed may still name a topic ("give me an
example of a fraction").
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass


class Intent(enum.Enum):
    """What the student asks for."""

    #: A question about a topic (no conversational phrase found).
    QUESTION = "question"
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    #: Say the last answer again.
    REPEAT = "repeat"
    #: The same topic in simpler words.
    SIMPLER = "simpler"
    #: The student did not understand: the topic again, another way.
    NOT_UNDERSTOOD = "not_understood"
    EXAMPLE = "example"
    #: More about the same topic than was said.
    MORE_DETAIL = "more_detail"
    #: "Yes" (to "Did you mean ...?").
    YES = "yes"
    #: "No" (to "Did you mean ...?").
    NO = "no"
    #: An answer to the tutor's question that checks understanding (read in context).
    ATTEMPT = "attempt"


# Checked in this order: the first pattern found decides. "I don't understand, say it more
# simply" is a misunderstanding first; "another example" is an example before it is "more".
_PATTERNS: list[tuple[Intent, re.Pattern[str]]] = [
    (
        Intent.NOT_UNDERSTOOD,
        re.compile(
            r"\b(?:i )?(?:do not|don'?t|didn'?t|did not|still don'?t|can'?t|cannot) "
            r"(?:really )?(?:understand|get (?:it|that|this)|follow)(?: (?:it|that|this))?\b"
            r"|\b(?:i'?m|i am|that'?s|that is|it'?s|it is) (?:a bit |so |very |still )?"
            r"(?:confused|confusing|lost)\b"
            r"|\bwhat do you mean\b|\b(?:does not|doesn'?t) make sense\b"
        ),
    ),
    (
        Intent.SIMPLER,
        re.compile(
            r"\b(?:more )?simpl(?:er|y|e)\b(?: (?:words|terms|way|please))?"
            r"|\beasier\b(?: (?:words|way))?"
            r"|\b(?:too|very|so) (?:hard|difficult|complicated)\b"
            r"|\bin (?:plain|easy) (?:words|english|terms)\b"
            r"|\blike i'?m (?:five|5|a (?:little )?kid|a child)\b"
        ),
    ),
    (
        Intent.REPEAT,
        re.compile(
            r"\b(?:say|repeat|read) (?:that|it|this|the answer)? ?again\b"
            r"|\brepeat (?:that|it|this|yourself|please)\b|\bcan you repeat\b|^repeat$"
            r"|\bcome again\b|\bwhat did you (?:just )?say\b|\bone more time\b"
            r"|^(?:pardon|sorry|what|huh|eh)(?: me)?$|\bi (?:didn'?t|did not) (?:hear|catch)\b"
        ),
    ),
    (
        Intent.EXAMPLE,
        re.compile(
            r"\b(?:an?|another|one more|some|other|more|for) examples?\b|\bexamples?\b"
            r"|\bfor instance\b|\bsuch as\b"
        ),
    ),
    (
        Intent.MORE_DETAIL,
        re.compile(
            r"\b(?:tell|say|explain|give|show) (?:me |us )?(?:a (?:bit|little) )?more\b"
            r"|\bmore (?:detail|details|information|info)\b|\bin (?:more )?detail\b"
            r"|\b(?:go on|keep going|carry on|continue)\b|\bwhat else\b"
            r"|\belaborate\b|\bexplain (?:it |that |this )?further\b|\bmore about\b"
            r"|^(?:and )?more(?: please)?$"
        ),
    ),
    (
        Intent.GREETING,
        re.compile(
            r"^(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening)|greetings)\b"
            r"(?: (?:there|tutor|teacher|everyone))?"
        ),
    ),
    (
        Intent.THANKS,
        re.compile(
            r"\b(?:thanks|thank you|thank u|thx|cheers)\b(?: (?:so much|a lot|very much))?"
            r"|\b(?:that|this|it) (?:was|is) (?:really )?(?:helpful|great|useful|clear)\b"
        ),
    ),
    (
        Intent.GOODBYE,
        re.compile(r"^(?:bye|goodbye|good bye|see you|see ya)\b(?: (?:later|soon|now))?"),
    ),
    (
        Intent.YES,
        re.compile(
            r"^(?:yes|yeah|yep|yup|correct|right|exactly|sure|that'?s right|that'?s it|"
            r"i did|i do|uh huh)\b(?: (?:please|thanks|i did|that'?s (?:it|right)))?"
        ),
    ),
    (Intent.NO, re.compile(r"^(?:no|nope|not really|not quite|wrong|that'?s wrong)\b")),
]

_CLEAN = re.compile(r"[^\w\s']+")
# Words that often surround a conversational phrase and say nothing about a topic.
_FILLER_WORDS = (
    "please ok okay now just so well um uh er hmm oh again bit little way words word one "
    "thing things that it this also too really maybe could can would will you me of on for "
    "with about the a an and or but explain tell say give show another other"
)
_FILLER = frozenset(_FILLER_WORDS.split())


@dataclass(frozen=True)
class IntentReading:
    """A message read for its intent."""

    intent: Intent
    #: The message without the conversational phrase: may still name a topic.
    remainder: str


@functools.lru_cache(maxsize=8192)  # the same sentences are compared on every turn
def normalize(text: str) -> str:
    """Lower-cased words of ``text`` without punctuation (transcripts have none)."""
    return " ".join(_CLEAN.sub(" ", text.lower().replace("’", "'")).split())


def read_intent(text: str) -> IntentReading:
    """The intent of a message and what is left of it once its phrase is removed."""
    plain = normalize(text)
    for intent, pattern in _PATTERNS:
        if pattern.search(plain):
            # Every phrase of the intent goes ("tell me more ... in detail").
            return IntentReading(intent, " ".join(pattern.sub(" ", plain).split()))
    return IntentReading(Intent.QUESTION, plain)


_QUESTION_START = re.compile(
    r"^(?:what|whats|what's|why|how|when|where|who|whom|whose|which|is|are|was|were|do|does|"
    r"did|can|could|will|would|should|shall|may|tell|explain|give|show|describe)\b"
)


def sounds_like_a_question(text: str) -> bool:
    """Whether a message asks something (transcripts have no question marks: its first word)."""
    return "?" in text or bool(_QUESTION_START.match(normalize(text)))


def topic_words(remainder: str) -> str:
    """The words of a remainder that may name a topic (filler removed); empty if none."""
    return " ".join(word for word in remainder.split() if word not in _FILLER)
