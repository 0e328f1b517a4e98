"""The embedded engine: answers from the knowledge base's own sentences, word piece by piece.

It runs anywhere and downloads nothing. It writes nothing of its own beyond a few fixed
phrases: the reply is composed by ``llm_svc.tutoring`` (the sentences that answer the question,
short enough to speak, cited; follow-ups, requests and greetings; an honest "no material";
"Did you mean ...?" for a question heard badly) and streamed like a model's tokens.
"""

from __future__ import annotations

import asyncio
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
from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.tutoring.clarify import clarifying_question, needs_clarifying
from llm_svc.tutoring.conversation import read_turn
from llm_svc.tutoring.extractive import Reply, ReplyPolicy, compose_reply
from llm_svc.word_pieces import cut_at_stop, word_pieces

MODEL_NAME = "retrieval"


class RetrievalEngine(LlmEngine):
    """Answers from the knowledge base alone (BM25 retrieval, sentence selection), streamed.

    Args:
        fallback_knowledge_base: Used when a request names no knowledge base (empty: none;
            the tutor then says it has no notes yet).
        max_passages: Most passages one answer draws on.
        token_delay_s: Pause between pieces (0: as fast as the client reads).
        no_material_text: What the tutor says when its notes hold nothing on the question.
        clarify_below_confidence: Questions heard with a lower ASR confidence are asked back.
        answer_words: Most words of a reply unless the student asks for more.
    """

    name = "retrieval"
    capabilities = EngineCapabilities(generative=False, sampling=False, remote=False)

    def __init__(
        self,
        *,
        fallback_knowledge_base: str = "",
        max_passages: int = 2,
        token_delay_s: float = 0.0,
        no_material_text: str = LlmSettings.model_fields["retrieval_no_material_text"].default,
        clarify_below_confidence: float = 0.5,
        answer_words: int = 60,
    ) -> None:
        self._fallback = fallback_knowledge_base
        self._token_delay_s = token_delay_s
        self._clarify_below = clarify_below_confidence
        self._policy = ReplyPolicy(
            answer_words=answer_words,
            max_passages=max_passages,
            no_material_text=no_material_text,
        )
        # Reads turns of tutors without a knowledge base (intents need no index).
        self._analyzer = TextAnalyzer()

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> RetrievalEngine:
        return cls(
            fallback_knowledge_base=settings.retrieval_fallback_knowledge_base,
            max_passages=settings.retrieval_max_passages,
            token_delay_s=settings.retrieval_token_delay_ms / 1000,
            no_material_text=settings.retrieval_no_material_text,
            clarify_below_confidence=settings.clarify_below_confidence,
            answer_words=settings.answer_words,
        )

    @property
    def default_model(self) -> str:
        return MODEL_NAME

    @property
    def fallback_knowledge_base(self) -> str:
        return self._fallback

    async def list_models(self) -> Sequence[ModelInfo]:
        return [ModelInfo(name=MODEL_NAME, family="bm25")]

    def reply(self, request: GenerationRequest) -> Reply:
        """The whole reply to ``request`` (blocking: searching and scoring are CPU work)."""
        knowledge = request.knowledge
        terms = knowledge.terms if knowledge is not None else self._analyzer.terms
        turn = read_turn(request.messages, terms)
        if needs_clarifying(turn, request.input_confidence, self._clarify_below):
            text, _ = clarifying_question(turn, request.question, knowledge)
            return Reply(text)
        return compose_reply(turn, knowledge, self._policy)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        # The model name is not checked: a tutor configured for an Ollama model still gets
        # answers when the service runs this engine, and the result names what answered.
        reply = await asyncio.to_thread(self.reply, request)
        answer, _ = cut_at_stop(reply.text, request.options.stop)
        pieces = word_pieces(answer)
        max_tokens = request.options.max_tokens
        truncated = max_tokens is not None and len(pieces) > max_tokens
        if truncated:
            pieces = pieces[:max_tokens]
        for piece in pieces:
            yield TextDelta(piece)
            # Also a cancellation point between pieces when there is no delay.
            await asyncio.sleep(self._token_delay_s)
        if reply.no_material:
            reason = FinishReason.NO_MATERIAL
        else:
            reason = FinishReason.LENGTH if truncated else FinishReason.STOP
        yield GenerationResult(
            finish_reason=reason,
            model=MODEL_NAME,
            prompt_tokens=sum(len(word_pieces(m.content)) for m in request.messages),
            completion_tokens=len(pieces),
            citations=reply.citations,
        )
