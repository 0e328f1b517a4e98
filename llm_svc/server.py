"""The LlmService servicer: converts protobuf to plain dataclasses and back, nothing else."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import grpc
from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from llm_svc.config import LlmSettings
from llm_svc.engines.base import (
    ChatMessage,
    FinishReason,
    GenerationRequest,
    LlmEngine,
    Role,
    SamplingOptions,
)
from llm_svc.generation import TimedResult, run_generation
from llm_svc.knowledge.documents import MAX_PASSAGE_CHARS, Document, PassageHit
from llm_svc.knowledge.export import content_hash, sorted_documents
from llm_svc.validation import check_documents, check_generation, check_id
from svc_core.errors import InvalidArgument, NotFound
from svc_core.server import ServiceBinding, StartupError

if TYPE_CHECKING:  # imported in build_service(), where a missing extra becomes a StartupError
    from llm_svc.knowledge.store import KnowledgeBaseStore

logger = logging.getLogger(__name__)

_ROLES: dict[int, Role] = {
    llm_pb2.ROLE_SYSTEM: "system",
    llm_pb2.ROLE_USER: "user",
    llm_pb2.ROLE_ASSISTANT: "assistant",
}
_FINISH_REASONS = {
    FinishReason.STOP: llm_pb2.FINISH_REASON_STOP,
    FinishReason.LENGTH: llm_pb2.FINISH_REASON_LENGTH,
    FinishReason.NO_MATERIAL: llm_pb2.FINISH_REASON_NO_MATERIAL,
}


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    """vtutor.llm.v1.LlmService over one engine and one knowledge base store."""

    def __init__(
        self, engine: LlmEngine, knowledge: KnowledgeBaseStore, *, stream_buffer: int = 64
    ) -> None:
        self.engine = engine
        self.knowledge = knowledge
        self._stream_buffer = stream_buffer

    async def Generate(
        self, request: llm_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.GenerateResponse]:
        generation = GenerationRequest(
            messages=tuple(_message(m, i) for i, m in enumerate(request.messages)),
            model=request.model,
            options=_options(request.options),
            input_confidence=(
                request.input_confidence if request.HasField("input_confidence") else None
            ),
        )
        check_generation(generation, request.knowledge_base_id)
        kb_id = request.knowledge_base_id or self.engine.fallback_knowledge_base
        if kb_id:
            generation = dataclasses.replace(generation, knowledge=await self.knowledge.get(kb_id))
        events = run_generation(
            self.engine,
            generation,
            buffer=self._stream_buffer,
            # grpc-stubs declares the callback type as a class, hence the ignore.
            on_call_end=lambda cancel: context.add_done_callback(
                lambda _: cancel()  # type: ignore[arg-type]
            ),
        )
        async for event in events:
            if isinstance(event, TimedResult):
                logger.debug(
                    "generated %d tokens with %s (%s) in %d ms",
                    event.result.completion_tokens,
                    event.result.model,
                    event.result.finish_reason.value,
                    event.total_ms,
                )
                yield llm_pb2.GenerateResponse(done=_done(event))
            else:
                yield llm_pb2.GenerateResponse(delta=llm_pb2.TokenDelta(text=event.text))

    async def ListModels(
        self, request: llm_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.ListModelsResponse:
        models = await self.engine.list_models()
        return llm_pb2.ListModelsResponse(
            models=[
                llm_pb2.Model(
                    name=m.name,
                    size_bytes=m.size_bytes,
                    family=m.family,
                    parameter_size=m.parameter_size,
                )
                for m in sorted(models, key=lambda m: m.name)
            ],
            default_model=self.engine.default_model,
        )

    async def IndexDocuments(
        self, request: llm_pb2.IndexDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.IndexDocumentsResponse:
        documents = [Document(d.id, d.title or d.id, d.text) for d in request.documents]
        check_documents(request.knowledge_base_id, documents)
        knowledge_base = await self.knowledge.index_documents(request.knowledge_base_id, documents)
        logger.info(
            "indexed %d documents into %r: now %d documents, %d passages",
            len(documents),
            knowledge_base.id,
            len(knowledge_base.documents),
            len(knowledge_base.passages),
        )
        return llm_pb2.IndexDocumentsResponse(
            document_count=len(knowledge_base.documents),
            passage_count=len(knowledge_base.passages),
        )

    async def DeleteKnowledgeBase(
        self, request: llm_pb2.DeleteKnowledgeBaseRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.DeleteKnowledgeBaseResponse:
        check_id("knowledge_base_id", request.knowledge_base_id)
        deleted = await self.knowledge.delete(request.knowledge_base_id)
        logger.info("deleted knowledge base %r (%d documents)", request.knowledge_base_id, deleted)
        return llm_pb2.DeleteKnowledgeBaseResponse(deleted_documents=deleted)

    async def ExportKnowledgeBase(
        self, request: llm_pb2.ExportKnowledgeBaseRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.ExportKnowledgeBaseResponse:
        check_id("knowledge_base_id", request.knowledge_base_id)
        knowledge_base = await self.knowledge.get(request.knowledge_base_id)
        documents = sorted_documents(knowledge_base.documents.values())
        digest = content_hash(documents)
        if request.known_content_hash == digest:
            return llm_pb2.ExportKnowledgeBaseResponse(content_hash=digest, unchanged=True)
        return llm_pb2.ExportKnowledgeBaseResponse(
            content_hash=digest,
            documents=[llm_pb2.Document(id=d.id, title=d.title, text=d.text) for d in documents],
        )


def _message(message: llm_pb2.Message, index: int) -> ChatMessage:
    role = _ROLES.get(message.role)
    if role is None:
        try:
            name = llm_pb2.Role.Name(message.role)
        except ValueError:  # a number this version of the contract does not define
            name = str(message.role)
        raise InvalidArgument(
            f"messages[{index}].role is {name}; use ROLE_SYSTEM, ROLE_USER or ROLE_ASSISTANT"
        )
    return ChatMessage(role=role, content=message.content)


def _options(options: llm_pb2.GenerationOptions) -> SamplingOptions:
    return SamplingOptions(
        temperature=options.temperature if options.HasField("temperature") else None,
        max_tokens=options.max_tokens if options.HasField("max_tokens") else None,
        stop=tuple(options.stop),
        seed=options.seed if options.HasField("seed") else None,
        top_p=options.top_p if options.HasField("top_p") else None,
    )


def _done(event: TimedResult) -> llm_pb2.GenerationDone:
    result = event.result
    return llm_pb2.GenerationDone(
        finish_reason=_FINISH_REASONS[result.finish_reason],
        usage=llm_pb2.Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            time_to_first_token_ms=event.time_to_first_token_ms,
            total_ms=event.total_ms,
        ),
        citations=[_citation(hit) for hit in result.citations],
        model=result.model,
    )


def _citation(hit: PassageHit) -> llm_pb2.Citation:
    passage = hit.passage
    return llm_pb2.Citation(
        document_id=passage.document_id,
        title=passage.title,
        passage_index=passage.index,
        text=passage.text[:MAX_PASSAGE_CHARS],
        score=hit.score,
    )


def build_service(
    settings: LlmSettings,
) -> tuple[Sequence[ServiceBinding], Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """The servicer for ``settings``, with the startup and shutdown that serve() runs.

    Startup opens the knowledge bases (building the demo) and starts the engine; health stays
    NOT_SERVING until both are ready.

    Raises:
        StartupError: The chosen engine's packages are missing.
    """
    from llm_svc.engines import create_engine
    from llm_svc.knowledge.demo import DEMO_KNOWLEDGE_BASE_ID, load_demo_documents

    try:
        from llm_svc.knowledge.index import RelevancePolicy
        from llm_svc.knowledge.store import KnowledgeBaseStore
    except ImportError as exc:
        raise StartupError(
            f"knowledge bases need the Python package {exc.name!r}: "
            "install llm_svc's extra with `pip install -e '.[llm]'`"
        ) from exc

    engine = create_engine(settings)
    store = KnowledgeBaseStore(
        settings.data_dir / "knowledge_bases",
        policy=RelevancePolicy(
            min_score=settings.knowledge_min_score,
            min_coverage=settings.knowledge_min_coverage,
            passage_max_words=settings.passage_max_words,
        ),
        cache_size=settings.knowledge_cache_size,
        builtin={DEMO_KNOWLEDGE_BASE_ID: load_demo_documents()},
    )
    servicer = LlmServicer(engine, store, stream_buffer=settings.stream_buffer)

    async def startup() -> None:
        await store.open()
        if fallback := engine.fallback_knowledge_base:
            try:
                await store.get(fallback)
            except NotFound as exc:
                raise StartupError(
                    f"LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE names {fallback!r}, which does not "
                    "exist: index it first, or use 'demo' or '' (none)"
                ) from exc
        await engine.start()
        logger.info("engine %s ready (default model %s)", engine.name, engine.default_model)

    async def shutdown() -> None:
        await engine.close()

    return [ServiceBinding.of(servicer, llm_pb2_grpc, llm_pb2)], startup, shutdown
