"""Checks on requests, with INVALID_ARGUMENT messages that say what is wrong and what is allowed.

The limits are the contract's (llm.proto): they are checked here once, for every engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llm_svc.engines.base import GenerationRequest, SamplingOptions
from llm_svc.knowledge.documents import ID_PATTERN, Document
from svc_core.errors import InvalidArgument

MAX_TEMPERATURE = 2.0
MAX_TOKENS = 8192
MAX_STOP_SEQUENCES = 8
MAX_STOP_CHARS = 64
MAX_MODEL_NAME_CHARS = 256
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
MAX_TITLE_CHARS = 512


def check_id(kind: str, value: str) -> None:
    """Raises InvalidArgument unless ``value`` is a valid knowledge base or document id."""
    if not ID_PATTERN.fullmatch(value):
        raise InvalidArgument(
            f"{kind} {value!r} is invalid: use 1-128 characters from A-Z, a-z, 0-9, '.', '_', '-'"
        )


def check_generation(request: GenerationRequest, knowledge_base_id: str) -> None:
    """Raises InvalidArgument when a Generate request breaks the contract."""
    if not request.messages:
        raise InvalidArgument("messages is empty: send the conversation, ending with the question")
    if len(request.model) > MAX_MODEL_NAME_CHARS:
        raise InvalidArgument(f"model name is longer than {MAX_MODEL_NAME_CHARS} characters")
    if knowledge_base_id:
        check_id("knowledge_base_id", knowledge_base_id)
    confidence = request.input_confidence
    if confidence is not None and not (math.isfinite(confidence) and 0 <= confidence <= 1):
        raise InvalidArgument(
            f"input_confidence is {confidence}; it must be in [0, 1], or unset for typed text"
        )
    check_options(request.options)


def check_options(options: SamplingOptions) -> None:
    """Raises InvalidArgument when an option is out of range."""
    if options.temperature is not None and not (
        math.isfinite(options.temperature) and 0 <= options.temperature <= MAX_TEMPERATURE
    ):
        raise InvalidArgument(
            f"options.temperature is {options.temperature}; it must be in [0, {MAX_TEMPERATURE:g}]"
        )
    if options.max_tokens is not None and not 1 <= options.max_tokens <= MAX_TOKENS:
        raise InvalidArgument(
            f"options.max_tokens is {options.max_tokens}; it must be in [1, {MAX_TOKENS}]"
        )
    if options.top_p is not None and not (math.isfinite(options.top_p) and 0 < options.top_p <= 1):
        raise InvalidArgument(f"options.top_p is {options.top_p}; it must be in (0, 1]")
    if len(options.stop) > MAX_STOP_SEQUENCES:
        raise InvalidArgument(
            f"options.stop has {len(options.stop)} sequences; at most {MAX_STOP_SEQUENCES} allowed"
        )
    for index, stop in enumerate(options.stop):
        if not 1 <= len(stop) <= MAX_STOP_CHARS:
            raise InvalidArgument(
                f"options.stop[{index}] has {len(stop)} characters; it must have 1-{MAX_STOP_CHARS}"
            )


def check_documents(knowledge_base_id: str, documents: Sequence[Document]) -> None:
    """Raises InvalidArgument when an IndexDocuments request breaks the contract."""
    check_id("knowledge_base_id", knowledge_base_id)
    if not documents:
        raise InvalidArgument("documents is empty: send at least one document to index")
    seen: set[str] = set()
    for index, document in enumerate(documents):
        check_id(f"documents[{index}].id", document.id)
        if document.id in seen:
            raise InvalidArgument(f"document id {document.id!r} appears twice in one request")
        seen.add(document.id)
        if not document.text.strip():
            raise InvalidArgument(f"document {document.id!r} has no text")
        if len(document.text.encode()) > MAX_DOCUMENT_BYTES:
            raise InvalidArgument(
                f"document {document.id!r} is larger than {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB"
            )
        if len(document.title) > MAX_TITLE_CHARS:
            raise InvalidArgument(
                f"document {document.id!r} has a title longer than {MAX_TITLE_CHARS} characters"
            )
