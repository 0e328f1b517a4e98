"""A knowledge base's documents as other services read them, with a hash of their content.

asr_svc builds a tutor's language model from the documents and keeps it under the hash, so it
asks again cheaply (sending the hash it has) and rebuilds only when the documents changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from llm_svc.knowledge.documents import Document


def sorted_documents(documents: Iterable[Document]) -> list[Document]:
    """The documents in a stable order (by id), as they are exported and hashed."""
    return sorted(documents, key=lambda document: document.id)


def content_hash(documents: Iterable[Document]) -> str:
    """SHA-256 over every document's id, title and text, in id order (hex, 32 characters)."""
    digest = hashlib.sha256()
    for document in sorted_documents(documents):
        for part in (document.id, document.title, document.text):
            data = part.encode("utf-8")
            # Length-prefixed, so no two different document sets hash alike by shifting text.
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()[:32]
