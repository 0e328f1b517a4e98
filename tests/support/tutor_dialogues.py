"""A tutor dialogue suite: a knowledge base written for it, and conversations with what each
reply must be. Shared by tests/llm_svc/test_tutor_dialogues.py and benchmarks/tutor_dialogue.py.

The documents are written the way teachers paste notes: plain-text and ``#`` headings, bullet
and numbered lists, emphasis marks, so the answers' markup-stripping is exercised. Dialogues
marked ``held_out`` were not looked at while the answer selection was tuned; the benchmark
reports them apart.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from llm_svc.knowledge.documents import Document, split_into_passages

KNOWLEDGE_BASE_ID = "dialogue-suite"

DOCUMENTS: list[tuple[str, str, str]] = [
    (
        "weather-climate",
        "Weather and climate",
        """Weather and climate

Weather is what the air outside is like on one day in one place: sunny or cloudy, hot or cold,
wet or dry, calm or windy. Weather can change from hour to hour.

Climate is the usual pattern of weather in a place over many years. A desert has a dry
climate even if it rains there on one afternoon.

What makes the weather
The sun warms the land and the sea unevenly, so air moves from place to place. Moving air is
wind. Warm air can hold more water vapour than cold air, so when warm, damp air rises and
cools, clouds form and it may rain.

## Measuring the weather
Weather stations measure the weather with a few instruments:
- thermometer
- rain gauge
- barometer
- wind vane

A **thermometer** measures temperature in degrees Celsius. A rain gauge collects rain so you
can see how many millimetres fell in a day.

## Climate change
The Earth's climate is slowly getting warmer because burning coal, oil and gas adds carbon
dioxide to the air. Carbon dioxide traps heat, like a blanket around the planet.
""",
    ),
    (
        "heart",
        "The human heart",
        """# The human heart

The heart is a muscle about the size of your fist. It pumps blood around your body through
tubes called blood vessels, day and night, without you having to think about it.

# Inside the heart

The heart has four chambers: two at the top called atria and two at the bottom called
ventricles. Valves between the chambers work like one-way doors, so blood can only flow
forward.

How blood travels
1. Blood full of oxygen leaves the left side of the heart through the arteries.
2. It carries oxygen to every part of the body.
3. Blood that has used up its oxygen comes back through the veins to the right side.
4. The heart pumps it to the lungs to collect fresh oxygen.

# Heartbeat

Each heartbeat is the heart muscle squeezing. A resting adult's heart beats about 70 times a
minute; a child's heart beats a little faster. When you run, your heart beats faster because
your muscles need more oxygen.

You can feel your pulse on the inside of your wrist. For example, count the beats for fifteen
seconds and multiply by four to find your heart rate.
""",
    ),
    (
        "bees",
        "Bees and pollination",
        """Bees and pollination

Pollination is how pollen moves from one flower to another so that the plant can make seeds.
Without pollination, many plants could not make fruit.

Why flowers need bees
A bee visits flowers to drink sweet nectar. Pollen sticks to the hairs on its body, and some
of it rubs off on the next flower it visits. That is how the bee pollinates the flowers
without meaning to.

Life in the hive
A honeybee colony lives in a hive. It has three kinds of bees:
- one queen, who lays all the eggs
- thousands of workers, who are female and do the jobs
- a few hundred drones, who are male

Worker bees turn nectar into honey and store it in wax cells to eat in winter. A strong hive
can hold fifty thousand bees in summer.

Why bees matter
About one in three mouthfuls of the food we eat depends on pollinators such as bees. Apples,
strawberries and almonds are examples of crops that need them.
""",
    ),
    (
        "earthquakes",
        "Earthquakes",
        """# Earthquakes

An earthquake is a sudden shaking of the ground. It happens when huge pieces of the Earth's
crust, called tectonic plates, slip past each other.

## Where earthquakes happen

Most earthquakes happen along the edges of tectonic plates, where the plates push, pull or
slide against each other. Japan, Chile and California lie on plate edges, so they have many
earthquakes.

## Measuring earthquakes

Scientists measure earthquakes with an instrument called a seismometer. The strength of an
earthquake is given as a magnitude: an earthquake of magnitude 7 releases about thirty times
more energy than one of magnitude 6.

## Staying safe

If the ground shakes, *drop* to the floor, take *cover* under a strong table and *hold on*
until the shaking stops. Stay away from windows, because the glass can break.
""",
    ),
    (
        "egypt",
        "Ancient Egypt",
        """Ancient Egypt

Ancient Egypt was a civilisation that grew up along the river Nile in North Africa more than
five thousand years ago. Every summer the Nile flooded and left rich mud on its banks, where
farmers grew wheat and barley.

The pharaohs
The rulers of Egypt were called pharaohs. People believed a pharaoh was part god. Tutankhamun
became pharaoh when he was about nine years old, around 1330 BC.

The pyramids
The pyramids were built as tombs for the pharaohs. The Great Pyramid of Giza was built around
2560 BC for the pharaoh Khufu, from more than two million blocks of stone.

Writing
The Egyptians wrote with pictures called hieroglyphs. They wrote on papyrus, a kind of paper
made from reeds that grew by the Nile.
""",
    ),
]


# For calibrating the no-material threshold: questions the suite's knowledge base answers, and
# questions it has nothing on (some sharing a word with it: "spiders eat", "speed of light").
ON_TOPIC_QUESTIONS = [
    "what is climate",
    "what is weather",
    "what makes wind",
    "why does it rain",
    "what does a thermometer measure",
    "what is climate change",
    "what does the heart do",
    "how many chambers does the heart have",
    "what are valves",
    "how do bees help flowers",
    "what is pollination",
    "what do worker bees do",
    "what is an earthquake",
    "what is a seismometer",
    "where do earthquakes happen",
    "who were the pharaohs",
    "what is papyrus",
    "what are hieroglyphs",
]
OFF_TOPIC_QUESTIONS = [
    "who won the football world cup",
    "what is the capital of France",
    "why is the sky blue",
    "how do rockets fly",
    "what is your favourite colour",
    "who invented the telephone",
    "how do I bake bread",
    "tell me a joke",
    "what is the speed of light",
    "how many legs does a spider have",
    "who painted the Mona Lisa",
    "how does the moon affect the tides",
    "what do spiders eat",
    "how do fish breathe underwater",
    "what is the biggest ocean",
]


@dataclass(frozen=True)
class Expect:
    """What a reply must be.

    ``kind`` is one of: ``answer`` (from the passage of ``document`` that contains ``passage``),
    ``no_material``, ``clarify`` ("Did you mean ...?" naming ``mentions``), ``greeting``,
    ``thanks``, ``feedback`` (on the student's answer to a check question), ``no_knowledge``
    (a tutor without a knowledge base).
    """

    kind: str = "answer"
    document: str = ""
    #: A phrase of the passage the answer must draw on (its first citation).
    passage: str = ""
    #: Phrases the reply must contain (case-insensitive).
    mentions: tuple[str, ...] = ()
    #: Most words of the reply.
    max_words: int = 60


@dataclass(frozen=True)
class Exchange:
    """One student message and what the tutor's reply must be."""

    student: str
    expect: Expect
    #: The ASR's confidence in the message; None for typed text.
    confidence: float | None = None
    #: The intent the exchange exercises (for the report).
    intent: str = "question"


@dataclass(frozen=True)
class Dialogue:
    """A conversation with one tutor."""

    name: str
    exchanges: list[Exchange]
    held_out: bool = False
    #: False: the tutor has no knowledge base.
    knowledge: bool = True
    #: The tutor's prompt; empty for the default (which asks for understanding checks).
    system_prompt: str = ""
    tags: list[str] = field(default_factory=list)


def answer(document: str, passage: str, *mentions: str, max_words: int = 60) -> Expect:
    """An answer from the passage of ``document`` that contains ``passage``."""
    return Expect("answer", document, passage, mentions, max_words)


DIALOGUES: list[Dialogue] = [
    # --- tuning half ---
    Dialogue(
        "weather follow-ups and intents",
        [
            Exchange(
                "hello", Expect("greeting", mentions=("weather and climate",)), intent="greeting"
            ),
            Exchange("what is climate", answer("weather-climate", "usual pattern of weather")),
            Exchange(
                "can you explain that more simply",
                answer("weather-climate", "usual pattern of weather", "in simple words"),
                intent="simpler",
            ),
            Exchange(
                "give me an example",
                answer("weather-climate", "desert has a dry"),
                intent="example",
            ),
            Exchange(
                "say that again", answer("weather-climate", "desert has a dry"), intent="repeat"
            ),
            Exchange("thanks", Expect("thanks"), intent="thanks"),
        ],
    ),
    Dialogue(
        "what is the difference",
        [
            Exchange(
                "what is the difference between weather and climate",
                answer("weather-climate", "usual pattern of weather", "weather is what the air"),
            ),
            Exchange("what makes wind", answer("weather-climate", "moving air is wind")),
            Exchange(
                "why does it rain",
                answer("weather-climate", "warm air can hold more water vapour", "clouds form"),
            ),
        ],
    ),
    Dialogue(
        "heart pronouns",
        [
            Exchange("what does the heart do", answer("heart", "size of your fist", "pumps blood")),
            Exchange(
                "how many chambers does it have",
                answer("heart", "four chambers", "four chambers"),
            ),
            Exchange(
                "I don't understand",
                answer("heart", "four chambers", "another way"),
                intent="not understood",
            ),
            Exchange(
                "tell me more",
                answer("heart", "oxygen leaves the left side", max_words=120),
                intent="more detail",
            ),
        ],
    ),
    Dialogue(
        "bees",
        [
            Exchange("what is pollination", answer("bees", "pollen moves from one flower")),
            Exchange("how do bees help flowers", answer("bees", "pollen sticks to the hairs")),
            Exchange(
                "what kinds of bees live in a hive",
                answer("bees", "three kinds of bees", "queen", "drones"),
            ),
        ],
    ),
    Dialogue(
        "off topic and honest limits",
        [
            Exchange(
                "who won the football world cup", Expect("no_material", mentions=("earthquakes",))
            ),
            Exchange("what is the capital of France", Expect("no_material")),
            Exchange(
                "what is an earthquake", answer("earthquakes", "sudden shaking of the ground")
            ),
        ],
    ),
    Dialogue(
        "misheard",
        [
            Exchange(
                "what is the whether in climb it",
                Expect("clarify", mentions=("did you mean",)),
                confidence=0.31,
                intent="low confidence",
            ),
            # Heard as "what is the weather and climate": both are defined.
            Exchange(
                "yes",
                answer("weather-climate", "", "weather is what the air", "climate is the usual"),
                intent="confirm",
            ),
        ],
    ),
    Dialogue(
        "answers to the check question",
        [
            Exchange("what is pollination", answer("bees", "pollen moves from one flower")),
            Exchange(
                "pollen goes from one flower to another flower",
                Expect("feedback", mentions=("that's right",)),
                intent="attempt",
            ),
            Exchange("what is a seismometer", answer("earthquakes", "seismometer")),
            Exchange(
                "a kind of volcano",
                Expect("feedback", mentions=("not quite", "seismometer")),
                intent="attempt",
            ),
        ],
    ),
    Dialogue(
        "no knowledge base",
        [
            Exchange("hi there", Expect("no_knowledge", mentions=("hello",)), intent="greeting"),
            Exchange("why is the sky blue", Expect("no_knowledge")),
            Exchange("what is an earthquake", Expect("no_knowledge")),
        ],
        knowledge=False,
    ),
    # --- held out: not looked at while tuning ---
    Dialogue(
        "egypt",
        [
            Exchange("who were the pharaohs", answer("egypt", "rulers of egypt")),
            Exchange(
                "when was the great pyramid built", answer("egypt", "great pyramid of giza", "2560")
            ),
            Exchange("why were they built", answer("egypt", "built as tombs")),
            Exchange("what did the egyptians write on", answer("egypt", "papyrus")),
        ],
        held_out=True,
    ),
    Dialogue(
        "earthquake safety",
        [
            Exchange(
                "where do earthquakes happen", answer("earthquakes", "edges of tectonic plates")
            ),
            Exchange("how do scientists measure them", answer("earthquakes", "seismometer")),
            Exchange(
                "what should I do in an earthquake", answer("earthquakes", "drop to the floor")
            ),
            Exchange(
                "can you say that more simply",
                answer("earthquakes", "drop to the floor"),
                intent="simpler",
            ),
        ],
        held_out=True,
    ),
    Dialogue(
        "heartbeat",
        [
            Exchange("good morning", Expect("greeting"), intent="greeting"),
            Exchange("how fast does the heart beat", answer("heart", "70 times a minute")),
            Exchange(
                "why does it beat faster when you run",
                answer("heart", "70 times a minute", "oxygen"),
            ),
            Exchange("give me an example", answer("heart", "feel your pulse"), intent="example"),
            Exchange("thank you", Expect("thanks"), intent="thanks"),
        ],
        held_out=True,
    ),
    Dialogue(
        "held-out limits",
        [
            Exchange("how do rockets fly", Expect("no_material")),
            Exchange(
                "how do bees make honey",
                Expect("clarify", mentions=("did you mean",)),
                confidence=0.2,
                intent="low confidence",
            ),
            Exchange("yes please", answer("bees", "turn nectar into honey"), intent="confirm"),
            Exchange("what is climate change", answer("weather-climate", "getting warmer")),
        ],
        held_out=True,
    ),
]


# --- running and checking (the test and the benchmark share them) ---

_MARKUP = re.compile(r"(?:^|\s)[#*•]|\*\*|`|\]\(|(?:^|\s)-\s|^\s*\d+[.)]\s")


@dataclass(frozen=True)
class Outcome:
    """What the tutor replied to one exchange."""

    dialogue: Dialogue
    exchange: Exchange
    reply: str
    finish_reason: int
    #: (document id, passage index, passage text) of each citation, best first.
    citations: list[tuple[str, int, str]]
    #: From sending the request to the first text, as the client saw it.
    first_token_ms: float

    @property
    def words(self) -> int:
        return len(self.reply.split())

    @property
    def right_passage(self) -> bool:
        """The reply's first citation is the expected passage."""
        expect = self.exchange.expect
        # An empty passage phrase accepts any passage of the document.
        return bool(self.citations) and (
            self.citations[0][0] == expect.document
            and expect.passage.lower() in self.citations[0][2].lower()
        )


def index_request() -> llm_pb2.IndexDocumentsRequest:
    """IndexDocuments for the suite's knowledge base."""
    return llm_pb2.IndexDocumentsRequest(
        knowledge_base_id=KNOWLEDGE_BASE_ID,
        documents=[llm_pb2.Document(id=i, title=t, text=x) for i, t, x in DOCUMENTS],
    )


async def run_dialogue(stub: llm_pb2_grpc.LlmServiceStub, dialogue: Dialogue) -> list[Outcome]:
    """Plays a dialogue against the service, carrying the history as the gateway does."""
    history: list[llm_pb2.Message] = []
    if dialogue.system_prompt:
        history.append(llm_pb2.Message(role=llm_pb2.ROLE_SYSTEM, content=dialogue.system_prompt))
    outcomes = []
    for exchange in dialogue.exchanges:
        history.append(llm_pb2.Message(role=llm_pb2.ROLE_USER, content=exchange.student))
        request = llm_pb2.GenerateRequest(
            messages=history, knowledge_base_id=KNOWLEDGE_BASE_ID if dialogue.knowledge else ""
        )
        if exchange.confidence is not None:
            request.input_confidence = exchange.confidence
        started = time.perf_counter()
        first: float | None = None
        text: list[str] = []
        done: llm_pb2.GenerationDone | None = None
        async for response in stub.Generate(request, timeout=30):
            if response.HasField("delta"):
                first = first or time.perf_counter()
                text.append(response.delta.text)
            else:
                done = response.done
        assert done is not None
        reply = "".join(text)
        outcomes.append(
            Outcome(
                dialogue,
                exchange,
                reply,
                done.finish_reason,
                [(c.document_id, c.passage_index, c.text) for c in done.citations],
                ((first or time.perf_counter()) - started) * 1000,
            )
        )
        history.append(llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, content=reply))
    return outcomes


def _headings() -> list[str]:
    """Headings of the suite's documents that are not also words of their passages."""
    passages = [p for i, t, x in DOCUMENTS for p in split_into_passages(Document(i, t, x))]
    texts = " ".join(p.text.lower() for p in passages)
    sections = {p.section for p in passages if p.section} | {t for _, t, _ in DOCUMENTS}
    return sorted(h for h in sections if len(h.split()) >= 2 and h.lower() not in texts)


HEADINGS = _headings()


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with a reply; empty when it is what the exchange expects."""
    expect = outcome.exchange.expect
    reply = outcome.reply.lower()
    found: list[str] = []
    if outcome.words > expect.max_words:
        found.append(f"{outcome.words} words (at most {expect.max_words})")
    if expect.kind == "answer":  # greetings and "no material" name topics by their titles
        # The closing check question may repeat the student's own words ("what climate change
        # is"), which may be a heading's too.
        spoken = reply.rsplit(". ", 1)[0] if reply.rstrip().endswith("?") else reply
        found += [f"reads out the heading {h!r}" for h in HEADINGS if h.lower() in spoken]
    if _MARKUP.search(outcome.reply):
        found.append("reads out markup")
    found += [f"does not mention {m!r}" for m in expect.mentions if m.lower() not in reply]
    if expect.kind == "answer":
        if outcome.finish_reason != llm_pb2.FINISH_REASON_STOP:
            found.append("not an answer")
        if not outcome.right_passage:
            found.append(
                f"cites {outcome.citations[:1]} (expected {expect.document}: {expect.passage!r})"
            )
        if not outcome.reply.rstrip().endswith("?"):
            found.append("no question checking understanding at the end")
    elif expect.kind == "no_material":
        if outcome.finish_reason != llm_pb2.FINISH_REASON_NO_MATERIAL or outcome.citations:
            found.append("answered an off-topic question")
    elif expect.kind == "clarify":
        if "did you mean" not in reply or not reply.rstrip().endswith("?") or outcome.citations:
            found.append("did not ask back")
    elif expect.kind == "greeting":
        if "hello" not in reply or outcome.citations:
            found.append("not a greeting")
    elif expect.kind == "thanks":
        if "welcome" not in reply or outcome.citations:
            found.append("not an answer to thanks")
    elif expect.kind == "feedback" and outcome.finish_reason != llm_pb2.FINISH_REASON_STOP:
        found.append("no feedback on the student's answer")
    elif expect.kind == "no_knowledge" and ("notes" not in reply or outcome.citations):
        found.append("a tutor without notes answered from some")
    return found
