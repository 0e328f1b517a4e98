"""A tutor's documents, read from llm_svc (which owns knowledge bases) and remembered.

Every stream of a tutor asks llm_svc again, sending the content hash it already has: the
answer is tiny when nothing changed, and carries the documents when they did, so a tutor's
language model follows its documents without any other signal. When llm_svc cannot be reached
the last known documents are used; a tutor whose documents were never read gets the general
model (recognition must not fail because retrieval is down).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import grpc
from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from asr_svc.engines.base import KnowledgeText

logger = logging.getLogger(__name__)

_MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a knowledge base's text, all documents together


class KnowledgeSource:
    """Reads knowledge bases' documents from llm_svc.

    Args:
        address: llm_svc's ``host:port``; empty: no knowledge bases (every tutor gets the
            general model).
        timeout_s: Deadline of one read.
        cache_size: Knowledge bases whose documents are kept.
    """

    def __init__(self, address: str, *, timeout_s: float = 2.0, cache_size: int = 32) -> None:
        self.address = address
        self._timeout_s = timeout_s
        self._cache_size = cache_size
        self._known: OrderedDict[str, KnowledgeText] = OrderedDict()
        self._channel: grpc.aio.Channel | None = None

    async def text(self, knowledge_base_id: str) -> KnowledgeText | None:
        """The documents of ``knowledge_base_id``; None when there are none to be had."""
        if not knowledge_base_id or not self.address:
            return None
        known = self._known.get(knowledge_base_id)
        request = llm_pb2.ExportKnowledgeBaseRequest(
            knowledge_base_id=knowledge_base_id,
            known_content_hash=known.content_hash if known is not None else "",
        )
        try:
            response = await self._stub().ExportKnowledgeBase(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                self._known.pop(knowledge_base_id, None)
                logger.info("knowledge base %r: %s", knowledge_base_id, exc.details())
                return None
            logger.warning(
                "cannot read knowledge base %r from llm_svc at %s (%s): using %s",
                knowledge_base_id,
                self.address,
                exc.code().name,
                "the last known documents" if known is not None else "the general model",
            )
            return known
        if response.unchanged and known is not None:
            self._known.move_to_end(knowledge_base_id)
            return known
        text = KnowledgeText(
            knowledge_base_id=knowledge_base_id,
            content_hash=response.content_hash,
            documents=tuple(d.text for d in response.documents),
        )
        self._known[knowledge_base_id] = text
        self._known.move_to_end(knowledge_base_id)
        while len(self._known) > self._cache_size:
            self._known.popitem(last=False)
        return text

    async def close(self) -> None:
        """Closes the channel to llm_svc."""
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    def _stub(self) -> llm_pb2_grpc.LlmServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self.address,
                options=[("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES)],
            )
        return llm_pb2_grpc.LlmServiceStub(self._channel)
