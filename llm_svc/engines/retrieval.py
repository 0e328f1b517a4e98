"""The embedded engine: answers by reading out the best knowledge passage, word piece by piece.

It runs anywhere and downloads nothing. It writes nothing of its own: the answer is the
passage (or passages) that best matches the question, cited, or, when nothing matches well
enough, a plain sentence saying there is no material (FINISH_REASON_NO_MATERIAL).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence

from llm_svc.config import LlmSettings
from llm_svc.engines.base import (
    EngineCapabilities,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationResult,
    LlmEngine,
    ModelInfo,
    TextDelta,
)

MODEL_NAME = "retrieval"
# Further passages join an answer only when they score this close to the best one.
_RELATIVE_SCORE = 0.8

_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+")
# Long words are streamed in pieces, as a language model's tokenizer would cut them, so
# consumers meet partial words from every engine.
_WHOLE_WORD_CHARS = 10
_WORD_PIECE_CHARS = 6


def word_pieces(text: str) -> list[str]:
    """Cuts text into the pieces it is streamed in; joined, they give ``text`` back.

    A piece is a word or a run of punctuation with the whitespace before it; words longer
    than 10 characters are cut into pieces of 6.
    """
    pieces: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        word = piece.lstrip()
        if len(word) <= _WHOLE_WORD_CHARS:
            pieces.append(piece)
            continue
        split = len(piece) - len(word) + _WORD_PIECE_CHARS
        pieces.append(piece[:split])
        pieces.extend(
            piece[i : i + _WORD_PIECE_CHARS] for i in range(split, len(piece), _WORD_PIECE_CHARS)
        )
    return pieces


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to (not including) the earliest stop sequence, and whether one was found."""
    positions = [i for s in stop if s and (i := text.find(s)) >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


class RetrievalEngine(LlmEngine):
    """Answers from the knowledge base alone (BM25 retrieval), streamed token by token.

    Args:
        fallback_knowledge_base: Used when a request names no knowledge base.
        max_passages: Most passages read out in one answer.
        token_delay_s: Pause between pieces (0: as fast as the client reads).
        no_material_text: The answer when nothing relevant is found.
    """

    name = "retrieval"
    capabilities = EngineCapabilities(generative=False, sampling=False, remote=False)

    def __init__(
        self,
        *,
        fallback_knowledge_base: str = "demo",
        max_passages: int = 1,
        token_delay_s: float = 0.0,
        no_material_text: str = LlmSettings.model_fields["retrieval_no_material_text"].default,
    ) -> None:
        self._fallback = fallback_knowledge_base
        self._max_passages = max_passages
        self._token_delay_s = token_delay_s
        self._no_material_text = no_material_text

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> RetrievalEngine:
        return cls(
            fallback_knowledge_base=settings.retrieval_fallback_knowledge_base,
            max_passages=settings.retrieval_max_passages,
            token_delay_s=settings.retrieval_token_delay_ms / 1000,
            no_material_text=settings.retrieval_no_material_text,
        )

    @property
    def default_model(self) -> str:
        return MODEL_NAME

    @property
    def fallback_knowledge_base(self) -> str:
        return self._fallback

    async def list_models(self) -> Sequence[ModelInfo]:
        return [ModelInfo(name=MODEL_NAME, family="bm25")]

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        # The model name is not checked: a tutor configured for an Ollama model still gets
        # answers when the service runs this engine, and the result names what answered.
        question = request.question
        hits = []
        if request.knowledge is not None and question.strip():
            hits = await asyncio.to_thread(
                request.knowledge.search, question, limit=self._max_passages
            )
            hits = [h for h in hits if h.score >= _RELATIVE_SCORE * hits[0].score]
        answer = " ".join(h.passage.text for h in hits) if hits else self._no_material_text
        answer, _ = cut_at_stop(answer, request.options.stop)
        pieces = word_pieces(answer)
        max_tokens = request.options.max_tokens
        truncated = max_tokens is not None and len(pieces) > max_tokens
        if truncated:
            pieces = pieces[:max_tokens]
        for piece in pieces:
            yield TextDelta(piece)
            # Also a cancellation point between pieces when there is no delay.
            await asyncio.sleep(self._token_delay_s)
        if not hits:
            reason = FinishReason.NO_MATERIAL
        else:
            reason = FinishReason.LENGTH if truncated else FinishReason.STOP
        yield GenerationResult(
            finish_reason=reason,
            model=MODEL_NAME,
            prompt_tokens=sum(len(word_pieces(m.content)) for m in request.messages),
            completion_tokens=len(pieces),
            citations=tuple(hits),
        )
