"""The tutor's parts on their own: markup made speakable, intents, question types, follow-ups,
misheard words, and the history budget of the language-model prompt."""

from __future__ import annotations

import pytest

from llm_svc.engines.base import ChatMessage
from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import Document, split_into_passages
from llm_svc.knowledge.index import KnowledgeBase, RelevancePolicy
from llm_svc.tutoring.chat_prompt import chat_messages, estimate_tokens, recent_history
from llm_svc.tutoring.conversation import read_turn
from llm_svc.tutoring.intents import Intent, read_intent
from llm_svc.tutoring.prompts import DEFAULT_TUTOR_PROMPT, asks_for_check, topic_name
from llm_svc.tutoring.questions import QuestionType, is_follow_up, question_type

pytestmark = pytest.mark.unit

NOTES = """Tides

Tides are the rise and fall of the sea, twice a day.

What causes tides
The **Moon's** gravity pulls on the oceans. See [the chart](https://example.org/tides).

## Kinds of tides
There are two kinds:
- spring tides
- neap tides

Safety rules:
1. Check the tide times before you go.
2. Never walk out on the sand when the tide is coming in, because it can rise quickly.

A note without a stop"""


def _passages() -> list[tuple[str, str]]:
    return [(p.section, p.text) for p in split_into_passages(Document("tides", "Tides", NOTES))]


def test_headings_bullets_emphasis_and_links_never_reach_the_spoken_text():
    assert _passages() == [
        ("Tides", "Tides are the rise and fall of the sea, twice a day."),
        ("What causes tides", "The Moon's gravity pulls on the oceans. See the chart."),
        ("Kinds of tides", "There are two kinds: spring tides and neap tides."),
        (
            "Kinds of tides",
            "Safety rules: Check the tide times before you go; and Never walk out on the sand "
            "when the tide is coming in, because it can rise quickly.",
        ),
        # The last line has nothing after it to be the heading of: it is text.
        ("Kinds of tides", "A note without a stop"),
    ]


def test_a_hard_wrapped_sentence_is_not_taken_for_a_heading():
    text = "The Moon pulls on the sea\nand the water rises. Then it falls."
    [passage] = split_into_passages(Document("d", "t", text))
    assert passage.text == "The Moon pulls on the sea and the water rises. Then it falls."
    assert passage.section == ""


@pytest.mark.parametrize(
    ("message", "intent", "remainder"),
    [
        ("Can you explain that more simply?", Intent.SIMPLER, "can you explain that"),
        ("give me an example of a fraction", Intent.EXAMPLE, "give me of a fraction"),
        ("say that again please", Intent.REPEAT, "please"),
        ("I don't understand", Intent.NOT_UNDERSTOOD, ""),
        ("tell me more about it in detail", Intent.MORE_DETAIL, "about it"),
        ("Hi there!", Intent.GREETING, ""),
        ("thank you so much", Intent.THANKS, ""),
        ("what is a volcano", Intent.QUESTION, "what is a volcano"),
        ("right angles have ninety degrees", Intent.YES, "angles have ninety degrees"),
    ],
)
def test_intents_are_read_from_the_words_with_what_is_left(message, intent, remainder):
    reading = read_intent(message)
    assert (reading.intent, reading.remainder) == (intent, remainder)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("what is the difference between weather and climate", QuestionType.DIFFERENCE),
        ("how many legs does a spider have", QuestionType.QUANTITY),
        ("why do leaves fall", QuestionType.REASON),
        ("what makes wind", QuestionType.REASON),
        ("how do plants grow", QuestionType.PROCESS),
        ("when did Rome fall", QuestionType.TIME),
        ("where do penguins live", QuestionType.PLACE),
        ("who was Cleopatra", QuestionType.PERSON),
        ("what is a prism", QuestionType.DEFINITION),
        ("tides", QuestionType.OTHER),
    ],
)
def test_question_types(question, kind):
    assert question_type(question) is kind


def test_follow_ups_lean_on_the_topic_and_new_questions_do_not():
    analyzer = TextAnalyzer()
    for text in ("where does it happen", "and why", "why do they do that", "how"):
        assert is_follow_up(text, analyzer.terms(text)), text
    for text in ("what is a volcano", "how do bees make honey in the hive"):
        assert not is_follow_up(text, analyzer.terms(text)), text


def test_a_yes_to_did_you_mean_asks_the_misheard_question_about_the_offered_topic():
    messages = [
        ChatMessage("user", "what causes the tie dust"),
        ChatMessage("assistant", "I'm not sure I heard you right. Did you mean tides?"),
        ChatMessage("user", "yes"),
    ]
    turn = read_turn(messages, TextAnalyzer().terms)
    assert turn.intent is Intent.QUESTION
    assert turn.confirmed
    assert turn.query == "what causes the tie dust"
    assert turn.must_cover == "tides"


def test_misheard_words_are_reread_as_the_closest_known_words():
    knowledge = KnowledgeBase(
        "k",
        [
            Document("tides", "Tides", NOTES),
            Document("quakes", "Earthquakes", "Earthquakes shake."),
        ],
        analyzer=TextAnalyzer(),
        policy=RelevancePolicy(),
    )
    assert knowledge.reread("what causes the tydes") == "causes tides"
    assert knowledge.reread("tell me about earth wakes") == "earthquakes"
    hit = knowledge.closest("what causes the tydes")
    assert hit is not None and hit.passage.document_id == "tides"
    assert knowledge.closest("blah blah") is None


def test_the_default_prompt_asks_for_a_check_and_others_only_when_they_say_so():
    assert asks_for_check(DEFAULT_TUTOR_PROMPT)
    assert asks_for_check("Always check that the student has understood.")
    assert not asks_for_check("You are Ada, a friendly maths tutor.")
    assert topic_name("The water cycle") == "the water cycle"
    assert topic_name("Ancient Rome") == "Ancient Rome"
    assert topic_name("Photosynthesis: how plants make food") == "photosynthesis"


def test_history_keeps_the_newest_whole_messages_within_its_budget():
    messages = [
        ChatMessage("user", "a" * 400),  # 100 tokens
        ChatMessage("assistant", "b" * 400),
        ChatMessage("user", "c" * 200),  # 50 tokens
        ChatMessage("assistant", "d" * 200),
    ]
    assert recent_history(messages, 100) == messages[2:]
    # A reply without the question it answered is left out too.
    assert recent_history(messages, 60) == []
    assert recent_history(messages, 10_000) == messages
    assert estimate_tokens("abcd" * 10) == 10


def test_without_a_knowledge_base_the_model_gets_no_notes_message():
    messages = [ChatMessage("user", "why is the sky blue")]
    ungrounded = chat_messages("Be kind.", messages, None, history_tokens=100)
    unmatched = chat_messages("Be kind.", messages, [], history_tokens=100)
    assert [m["role"] for m in ungrounded] == ["system", "user"]
    assert [m["role"] for m in unmatched] == ["system", "system", "user"]
    assert "no material" in unmatched[1]["content"]


def test_an_engine_name_without_an_engine_is_a_startup_error(tmp_path):
    from llm_svc.config import LlmSettings
    from llm_svc.engines import ENGINES, create_engine
    from svc_core.server import StartupError

    assert set(ENGINES) == {"retrieval", "ollama"}
    # Settings validate the name; a caller that bypasses validation still gets a clear error.
    settings = LlmSettings.model_construct(engine="gpt")
    with pytest.raises(StartupError, match=r"LLM_ENGINE='gpt'.*retrieval, ollama"):
        create_engine(settings)


def test_only_an_explicit_setting_makes_the_demo_answer_tutors_without_notes():
    from llm_svc.config import LlmSettings

    assert LlmSettings.model_fields["retrieval_fallback_knowledge_base"].default == ""
