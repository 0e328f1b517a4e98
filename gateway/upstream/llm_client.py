"""Client of llm_svc: Generate as plain token and result values, plus admin pass-through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from gateway.upstream.channels import ResponseStream, Upstream

Role = Literal["system", "user", "assistant"]

_ROLES: dict[Role, int] = {
    "system": llm_pb2.ROLE_SYSTEM,
    "user": llm_pb2.ROLE_USER,
    "assistant": llm_pb2.ROLE_ASSISTANT,
}
_ROLE_NAMES: dict[int, Role] = {
    llm_pb2.ROLE_SYSTEM: "system",
    llm_pb2.ROLE_USER: "user",
    llm_pb2.ROLE_ASSISTANT: "assistant",
}


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class Citation:
    """A knowledge passage an answer drew on."""

    document_id: str
    title: str
    passage_index: int
    text: str
    score: float


@dataclass(frozen=True)
class TokenText:
    """Newly generated text."""

    text: str


@dataclass(frozen=True)
class GenerationResult:
    """The end of a generation, with the upstream's own timings."""

    finish_reason: str
    model: str
    citations: tuple[Citation, ...] = ()
    time_to_first_token_ms: int = 0
    total_ms: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate."""

    messages: tuple[ChatMessage, ...]
    model: str = ""
    knowledge_base_id: str = ""
    # The ASR's confidence in the last user message (spoken turns); None for typed text.
    input_confidence: float | None = None


def citation_from_proto(message: llm_pb2.Citation) -> Citation:
    """A Citation from its protobuf form."""
    return Citation(
        document_id=message.document_id,
        title=message.title,
        passage_index=message.passage_index,
        text=message.text,
        score=message.score,
    )


def citation_to_proto(citation: Citation) -> llm_pb2.Citation:
    """The protobuf form of a Citation."""
    return llm_pb2.Citation(
        document_id=citation.document_id,
        title=citation.title,
        passage_index=citation.passage_index,
        text=citation.text,
        score=citation.score,
    )


def message_from_proto(message: llm_pb2.Message) -> ChatMessage:
    """A ChatMessage from its protobuf form (unknown roles count as the student's)."""
    return ChatMessage(role=_ROLE_NAMES.get(message.role, "user"), content=message.content)


def _value(message: llm_pb2.GenerateResponse) -> TokenText | GenerationResult | None:
    kind = message.WhichOneof("response")
    if kind == "delta":
        return TokenText(message.delta.text) if message.delta.text else None
    if kind == "done":
        done = message.done
        return GenerationResult(
            finish_reason=llm_pb2.FinishReason.Name(done.finish_reason)
            .removeprefix("FINISH_REASON_")
            .lower(),
            model=done.model,
            citations=tuple(citation_from_proto(c) for c in done.citations),
            time_to_first_token_ms=done.usage.time_to_first_token_ms,
            total_ms=done.usage.total_ms,
            completion_tokens=done.usage.completion_tokens,
        )
    return None


class LlmClient(Upstream):
    """Calls llm_svc."""

    stage = "llm"

    @property
    def stub(self) -> llm_pb2_grpc.LlmServiceStub:
        """The generated stub (admin pass-through uses it directly)."""
        return llm_pb2_grpc.LlmServiceStub(self.channel)

    async def generate(
        self, request: GenerationRequest
    ) -> ResponseStream[TokenText | GenerationResult]:
        """Starts a generation: token texts, then one GenerationResult."""
        await self.ensure_ready()
        message = llm_pb2.GenerateRequest(
            model=request.model,
            messages=[
                llm_pb2.Message(role=_ROLES[m.role], content=m.content) for m in request.messages
            ],
            knowledge_base_id=request.knowledge_base_id,
        )
        if request.input_confidence is not None:
            message.input_confidence = request.input_confidence
        call = self.stub.Generate(message, timeout=self.settings.turn_timeout_s)
        return ResponseStream(
            self.stage,
            call,
            _value,
            first_timeout_s=self.settings.first_response_timeout_s,
            what="token",
        )
