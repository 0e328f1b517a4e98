"""The production engine: streams ``/api/chat`` from an Ollama server with the ``ollama`` client.

Each request may name its own model (each tutor can use its own), else ``LLM_OLLAMA_MODEL``.
The model gets the same tutor as the retrieval engine (``llm_svc.tutoring.chat_prompt``): the
tutor's prompt (or the default) with an instruction to answer briefly for speech, the passages
found for the question (follow-ups searched with their topic) with their ids, and the history
within a token budget; the passages come back as citations. A question heard with low ASR
confidence is asked back ("Did you mean ...?") without calling the model. The HTTP stream lives
inside ``generate()``: when the gRPC call is cancelled (a student barges in), the cancellation
closes the connection at once and Ollama stops generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import ollama

from llm_svc.config import LlmSettings
from llm_svc.engines.base import (
    EngineCapabilities,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationResult,
    LlmEngine,
    ModelInfo,
    SamplingOptions,
    TextDelta,
)
from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import PassageHit
from llm_svc.tutoring.chat_prompt import chat_messages
from llm_svc.tutoring.clarify import clarifying_question, needs_clarifying
from llm_svc.tutoring.conversation import find_passages, read_turn
from llm_svc.word_pieces import word_pieces
from svc_core.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ServiceError,
    Unavailable,
)
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

_STARTUP_RETRY_S = 0.5


def ollama_options(options: SamplingOptions) -> dict[str, Any]:
    """Sampling options in Ollama's names, leaving out those the request did not set."""
    mapped = {
        "temperature": options.temperature,
        "num_predict": options.max_tokens,
        "seed": options.seed,
        "top_p": options.top_p,
        "stop": list(options.stop) or None,
    }
    return {key: value for key, value in mapped.items() if value is not None}


@dataclass(frozen=True)
class PreparedChat:
    """A turn ready for Ollama: its messages and the passages in them; or, instead, a
    question to ask back (``ask_back``) when the student was heard badly."""

    messages: list[dict[str, str]]
    citations: list[PassageHit]
    ask_back: str = ""


class OllamaEngine(LlmEngine):
    """Streams chat completions from an Ollama server.

    Args:
        host: Ollama's base URL.
        default_model: Model for requests that name none.
        connect_timeout_s: Longest wait to connect.
        read_timeout_s: Longest wait for the next chunk (the first includes model loading).
        keep_alive: Ollama's keep_alive for the model (empty: Ollama's default).
        context_passages: Knowledge passages put into the prompt.
        startup_timeout_s: How long ``start()`` waits for Ollama to answer.
        max_connections: HTTP connections to Ollama (one per concurrent stream).
        history_tokens: Estimated tokens of earlier conversation sent with each request.
        clarify_below_confidence: Questions heard with a lower ASR confidence are asked back.
    """

    name = "ollama"
    capabilities = EngineCapabilities(generative=True, sampling=True, remote=True)

    def __init__(
        self,
        *,
        host: str,
        default_model: str,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 120.0,
        keep_alive: str = "",
        context_passages: int = 3,
        startup_timeout_s: float = 30.0,
        max_connections: int = 64,
        history_tokens: int = 1500,
        clarify_below_confidence: float = 0.5,
    ) -> None:
        self.host = host
        self._default_model = default_model
        self._keep_alive = keep_alive or None
        self._context_passages = context_passages
        self._startup_timeout_s = startup_timeout_s
        self._read_timeout_s = read_timeout_s
        self._history_tokens = history_tokens
        self._clarify_below = clarify_below_confidence
        # Reads turns of tutors without a knowledge base (intents need no index).
        self._analyzer = TextAnalyzer()
        # The ollama client has no timeout by default; without one a stalled server would hold
        # a turn forever.
        self._client = ollama.AsyncClient(
            host=host,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> OllamaEngine:
        return cls(
            host=settings.ollama_host,
            default_model=settings.ollama_model,
            connect_timeout_s=settings.ollama_connect_timeout_s,
            read_timeout_s=settings.ollama_read_timeout_s,
            keep_alive=settings.ollama_keep_alive,
            context_passages=settings.ollama_context_passages,
            startup_timeout_s=settings.ollama_startup_timeout_s,
            max_connections=settings.ollama_max_connections,
            history_tokens=settings.ollama_history_tokens,
            clarify_below_confidence=settings.clarify_below_confidence,
        )

    @property
    def default_model(self) -> str:
        return self._default_model

    async def start(self) -> None:
        """Waits until Ollama answers, and warns when the default model is not pulled.

        Raises:
            StartupError: Ollama did not answer within ``startup_timeout_s``.
        """
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            try:
                models = await self.list_models()
                break
            except Unavailable as exc:
                if time.monotonic() >= deadline:
                    raise StartupError(
                        f"{exc.message}. Start Ollama (`ollama serve`) or point LLM_OLLAMA_HOST "
                        "at it, or choose the embedded engine with LLM_ENGINE=retrieval"
                    ) from exc
                await asyncio.sleep(_STARTUP_RETRY_S)
        if self._default_model not in {m.name for m in models}:
            logger.warning(
                "default model %r is not on the Ollama server at %s: run `ollama pull %s`",
                self._default_model,
                self.host,
                self._default_model,
            )

    async def close(self) -> None:
        await self._client.close()

    async def list_models(self) -> Sequence[ModelInfo]:
        with self._statuses(model=""):
            listing = await self._client.list()
        return [
            ModelInfo(
                name=m.model or "",
                size_bytes=int(m.size or 0),
                family=(m.details.family or "") if m.details else "",
                parameter_size=(m.details.parameter_size or "") if m.details else "",
            )
            for m in listing.models
        ]

    def prepare(self, request: GenerationRequest) -> PreparedChat:
        """What to send Ollama for ``request``, or the question to ask back instead (blocking:
        searching the knowledge base is CPU work)."""
        knowledge = request.knowledge
        terms = knowledge.terms if knowledge is not None else self._analyzer.terms
        turn = read_turn(request.messages, terms)
        if needs_clarifying(turn, request.input_confidence, self._clarify_below):
            text, _ = clarifying_question(turn, request.question, knowledge)
            return PreparedChat(messages=[], citations=[], ask_back=text)
        passages: list[PassageHit] | None = None
        if knowledge is not None:
            passages = []
            if self._context_passages:
                passages = find_passages(knowledge, turn, limit=self._context_passages)
        messages = chat_messages(
            turn.prompt, request.messages, passages, history_tokens=self._history_tokens
        )
        return PreparedChat(messages=messages, citations=passages or [])

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        model = request.model or self._default_model
        prepared = await asyncio.to_thread(self.prepare, request)
        if prepared.ask_back:
            for piece in word_pieces(prepared.ask_back):
                yield TextDelta(piece)
            yield GenerationResult(FinishReason.STOP, model=model)
            return
        citations = prepared.citations
        final: ollama.ChatResponse | None = None
        deltas = 0
        with self._statuses(model):
            stream = await self._client.chat(
                model=model,
                messages=prepared.messages,
                options=ollama_options(request.options),
                keep_alive=self._keep_alive,
                stream=True,
            )
            # aclosing: however this generator ends (cancelled, closed by the consumer, an
            # error), the response is closed now, not when garbage collection gets to it.
            parts = cast(AsyncGenerator[ollama.ChatResponse, None], stream)
            async with contextlib.aclosing(parts):
                async for part in parts:
                    if part.message.content:
                        deltas += 1
                        yield TextDelta(part.message.content)
                    if part.done:  # the last line; reading on to the end keeps the
                        final = part  # connection reusable for the next request
        if final is None:
            raise Unavailable(f"Ollama at {self.host} ended the reply to {model!r} unfinished")
        length = final.done_reason == "length"
        yield GenerationResult(
            finish_reason=FinishReason.LENGTH if length else FinishReason.STOP,
            model=final.model or model,
            prompt_tokens=final.prompt_eval_count or 0,
            completion_tokens=final.eval_count or deltas,
            citations=tuple(citations),
        )

    @contextlib.contextmanager
    def _statuses(self, model: str) -> Iterator[None]:
        """Raises what fails inside as the ServiceError the client should get."""
        try:
            yield
        except Exception as exc:
            error = self._error_for(exc, model)
            if error is exc:
                raise
            raise error from exc

    def _error_for(self, exc: Exception, model: str) -> Exception:
        """The ServiceError a failed call to Ollama reaches the client as (``exc`` itself when
        it is not a failure of Ollama's: a bug, reported as INTERNAL)."""
        if isinstance(exc, ServiceError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and model:
                return NotFound(
                    f"model {model!r} is not on the Ollama server at {self.host}: "
                    f"pull it with `ollama pull {model}`"
                )
            if exc.status_code == 400:
                return InvalidArgument(f"Ollama rejected the request: {exc.error}")
            return Unavailable(f"Ollama at {self.host} failed: {exc.error}")
        if isinstance(exc, httpx.ReadTimeout):
            return DeadlineExceeded(
                f"Ollama at {self.host} sent nothing for {self._read_timeout_s:g} s"
            )
        if isinstance(exc, ConnectionError | httpx.TransportError):
            return Unavailable(f"cannot reach Ollama at {self.host} ({type(exc).__name__})")
        if isinstance(exc, ValueError):  # a line that is not JSON or not a chat chunk
            return Unavailable(f"Ollama at {self.host} sent a malformed reply: {exc}")
        return exc
