"""The engine interface of llm_svc and the plain dataclasses engines speak (never protobuf).

An engine turns a conversation (and, when the request names one, a knowledge base) into a
stream of ``TextDelta`` events followed by exactly one ``GenerationResult``. Cancelling the
consumer of that stream must stop generation at once: engines hold no work outside it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from llm_svc.knowledge.documents import Passage, PassageHit

Role = Literal["system", "user", "assistant"]


class FinishReason(enum.Enum):
    """Why generation stopped (vtutor.llm.v1.FinishReason without the prefix)."""

    #: The answer is complete, or a stop sequence was reached.
    STOP = "stop"
    #: ``max_tokens`` was reached.
    LENGTH = "length"
    #: The knowledge base held nothing relevant (retrieval engine).
    NO_MATERIAL = "no_material"


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling and length options; ``None`` means the engine's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_p: float | None = None


class KnowledgeSource(Protocol):
    """A searchable knowledge base, as engines see it (``KnowledgeBase``); all blocking."""

    @property
    def id(self) -> str: ...

    def search(
        self, question: str, *, limit: int, must_cover: str | None = None
    ) -> list[PassageHit]:
        """Passages relevant enough to answer from, best first; ``must_cover``: text whose
        terms they must cover (default the question)."""
        ...

    def closest(self, question: str) -> PassageHit | None:
        """The best-scoring passage however weak the match; None if nothing matches at all."""
        ...

    def reread(self, text: str) -> str:
        """``text`` read as the closest-looking words the knowledge base knows."""
        ...

    def following(self, passage: Passage) -> Passage | None:
        """The next passage of the same document; None at its end."""
        ...

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``."""
        ...

    def weighted_coverage(self, wanted: frozenset[str], present: frozenset[str]) -> float:
        """The IDF-weighted share of ``wanted`` terms that are ``present``."""
        ...

    def sentences(self, passage: Passage) -> tuple[tuple[str, frozenset[str]], ...]:
        """The sentences of one of its passages, each with its search terms."""
        ...

    def topics(self) -> list[str]:
        """The titles of its documents."""
        ...


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: the conversation, the model, options and the knowledge to use."""

    messages: tuple[ChatMessage, ...]
    #: Model name; empty for the engine's default.
    model: str = ""
    options: SamplingOptions = field(default_factory=SamplingOptions)
    #: The knowledge base to ground the answer in, resolved by the caller; None for none.
    knowledge: KnowledgeSource | None = None
    #: The speech recognizer's confidence in the last user message, in [0, 1]; None when it
    #: was typed or the recognizer reports none (llm.proto, GenerateRequest.input_confidence).
    input_confidence: float | None = None

    @property
    def question(self) -> str:
        """The latest user message: what the answer is about and what knowledge is searched by."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True)
class TextDelta:
    """Newly generated text; may be part of a word."""

    text: str


@dataclass(frozen=True)
class GenerationResult:
    """The end of a generation."""

    finish_reason: FinishReason
    #: The model that answered.
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Knowledge passages the answer drew on, best first.
    citations: tuple[PassageHit, ...] = ()


GenerationEvent = TextDelta | GenerationResult


@dataclass(frozen=True)
class ModelInfo:
    """A model an engine can run."""

    name: str
    size_bytes: int = 0
    family: str = ""
    parameter_size: str = ""


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, so callers need not probe it."""

    #: Writes new text (a language model) rather than reading out knowledge passages.
    generative: bool
    #: Honours temperature, top_p and seed.
    sampling: bool
    #: Needs a network service (it can be UNAVAILABLE while the process is fine).
    remote: bool


class LlmEngine(ABC):
    """A text generator behind llm_svc.

    Subclasses set ``name`` and ``capabilities``. ``start()`` prepares the engine once per
    process; the server reports NOT_SERVING until it returns.
    """

    name: str = ""
    capabilities = EngineCapabilities(generative=False, sampling=False, remote=False)

    @property
    @abstractmethod
    def default_model(self) -> str:
        """The model used when a request names none."""

    @property
    def fallback_knowledge_base(self) -> str:
        """Knowledge base to use when a request names none; empty for none."""
        return ""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepares the engine (connects, loads, checks); raises StartupError if it cannot."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases what ``start()`` acquired."""

    @abstractmethod
    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        """Streams the answer: text deltas as produced, then exactly one GenerationResult.

        Raises:
            ServiceError: A subclass saying what went wrong (NotFound for an unknown model,
                Unavailable for an unreachable backend, ...).
        """

    @abstractmethod
    async def list_models(self) -> Sequence[ModelInfo]:
        """The models this engine can run."""
