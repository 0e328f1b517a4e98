"""What kind of answer a question wants, and whether it leans on the previous topic.

The type (what, why, how, how many, when, where, who, the difference between) decides which
sentences of a passage answer it: "why" wants a reason, "how many" a number. A follow-up
("where does it happen?", "and why?") names no topic of its own, so it is searched together
with the topic before it.
"""

from __future__ import annotations

import enum
import functools
import re

from llm_svc.tutoring.intents import normalize


class QuestionType(enum.Enum):
    """The kind of answer a question asks for."""

    DEFINITION = "what"
    REASON = "why"
    PROCESS = "how"
    QUANTITY = "how many"
    TIME = "when"
    PLACE = "where"
    PERSON = "who"
    DIFFERENCE = "difference"
    OTHER = "other"


# Checked in order; the first match decides ("how many" before "how", "why" before "what").
_TYPES: list[tuple[QuestionType, re.Pattern[str]]] = [
    (
        QuestionType.DIFFERENCE,
        re.compile(
            r"\bdifferen(?:ce|t|ces)\b|\bdiffer\b|\bcompare\b|\bcompared\b|\bversus\b|\bvs\b"
            r"|\bsame as\b|\bunlike\b"
        ),
    ),
    (
        QuestionType.QUANTITY,
        re.compile(
            r"\bhow (?:many|much|long|far|old|big|tall|high|deep|hot|cold|fast|heavy|often)\b"
            r"|\bwhat (?:is|s) \w+ (?:plus|minus|times|divided)\b|\bwhat number\b"
        ),
    ),
    (
        QuestionType.REASON,
        re.compile(r"\bwhy\b|\bhow come\b|\bwhat causes\b|\bwhat makes\b|\breason\b"),
    ),
    (QuestionType.TIME, re.compile(r"\bwhen\b|\bwhat (?:year|time|century|date)\b")),
    (QuestionType.PLACE, re.compile(r"\bwhere\b|\bwhich (?:place|country|part)\b")),
    (QuestionType.PERSON, re.compile(r"\bwho\b|\bwhose\b")),
    (QuestionType.PROCESS, re.compile(r"\bhow\b|\bwhat happens\b|\bsteps?\b")),
    (
        QuestionType.DEFINITION,
        re.compile(r"\bwhat\b|\bwhich\b|\bdefin|\bmeaning\b|\bmean\b|\btell me about\b"),
    ),
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that show a sentence gives the kind of answer a type wants.
CUES: dict[QuestionType, frozenset[str]] = {
    QuestionType.DEFINITION: _words("is are means called known refers kind type word name"),
    QuestionType.REASON: _words(
        "because so cause causes caused reason why therefore since makes due result this that means"
    ),
    QuestionType.PROCESS: _words(
        "by through first then next when using use uses turn turns into becomes happens steps after"
    ),
    QuestionType.QUANTITY: _words(
        "zero one two three four five six seven eight nine ten eleven twelve twenty thirty "
        "forty fifty hundred hundreds thousand thousands million millions billion half quarter "
        "third percent degrees"
    ),
    QuestionType.TIME: _words(
        "year years century ago bc ad before after during when began since until age"
    ),
    QuestionType.PLACE: _words(
        "in at near along around found where under inside across edges places place countries "
        "live lives located world"
    ),
    QuestionType.PERSON: _words("was who king queen leader person people named"),
    QuestionType.DIFFERENCE: _words(
        "but while whereas unlike both differ different difference same instead however than"
    ),
    QuestionType.OTHER: frozenset(),
}

# Pronouns and pointers that refer back to the previous topic.
_ANAPHORA = _words(
    "it its it's itself they them their theirs this that these those there he she him her his "
    "one ones"
)
_ELLIPSIS_START = re.compile(r"^(?:and|but|so|also|what about|how about|then)\b")
_DIGIT = re.compile(r"\d")


# Words that say what kind of answer is wanted, not what it is about: "the difference between
# weather and climate" is about weather and climate, "what makes wind" about wind.
_TYPE_WORDS = re.compile(
    r"\b(?:difference|differences|different|differ|between|compare|compared|versus|vs)\b"
    r"|(?<=\bwhat )(?:makes|made|causes|caused)\b"
)


_WHAT_NEXT = re.compile(r"\b(?:next|after (?:that|this|it)|afterwards|then what|and then)\b")


def asks_what_next(text: str) -> bool:
    """Whether a follow-up asks what comes after what was said."""
    return bool(_WHAT_NEXT.search(normalize(text)))


def strip_type_words(text: str) -> str:
    """``text`` without the words that only name the type of question."""
    return _TYPE_WORDS.sub(" ", normalize(text))


def question_type(text: str) -> QuestionType:
    """The kind of answer ``text`` asks for."""
    plain = normalize(text)
    for kind, pattern in _TYPES:
        if pattern.search(plain):
            return kind
    return QuestionType.OTHER


@functools.lru_cache(maxsize=8192)  # scored for every question on the same sentences
def cue_strength(kind: QuestionType, sentence: str) -> float:
    """How much a sentence looks like the kind of answer ``kind`` wants, in [0, 1]."""
    words = normalize(sentence).split()
    if not words:
        return 0.0
    cues = CUES[kind]
    found = sum(1 for word in words if word in cues)
    if kind in (QuestionType.QUANTITY, QuestionType.TIME) and _DIGIT.search(sentence):
        found += 2
    return min(1.0, found / 2)


def is_follow_up(text: str, own_terms: list[str]) -> bool:
    """Whether ``text`` leans on the topic before it rather than naming one.

    Args:
        text: The student's message.
        own_terms: Its search terms (stopwords and question words removed).
    """
    words = normalize(text).split()
    if not own_terms:
        return True
    if _ELLIPSIS_START.match(" ".join(words)) and len(own_terms) <= 2:
        return True
    # "where does it happen", "why do they do that": a pointer and at most two terms of its own.
    return len(own_terms) <= 2 and any(word in _ANAPHORA for word in words)
