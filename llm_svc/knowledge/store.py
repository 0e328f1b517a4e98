"""Knowledge bases kept on disk under ``LLM_DATA_DIR`` and indexed in memory on first use.

Each knowledge base is one JSON file, ``<data_dir>/knowledge_bases/<id>.json``, holding its
documents (the source of truth; passages and the BM25 index are rebuilt from it). Files are
replaced atomically (write a temporary file, fsync, rename, fsync the folder), so a crash leaves
either the old or the new version, never half of one. Built-in knowledge bases (the demo) come
from the package and are read-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import grpc

from llm_svc.knowledge.analysis import TextAnalyzer
from llm_svc.knowledge.documents import ID_PATTERN, Document
from llm_svc.knowledge.index import KnowledgeBase, RelevancePolicy
from svc_core.errors import InvalidArgument, NotFound, ServiceError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SUFFIX = ".json"
_TEMP_SUFFIX = ".tmp"


class KnowledgeBaseStore:
    """Creates, updates, finds and deletes knowledge bases.

    Args:
        root: Folder of the knowledge base files (created if missing).
        policy: Relevance and passage settings every knowledge base is built with.
        cache_size: Indexed knowledge bases kept in memory (built-ins are always kept).
        builtin: Read-only knowledge bases by id, built at ``open()``.
    """

    def __init__(
        self,
        root: Path,
        *,
        policy: RelevancePolicy,
        cache_size: int = 32,
        builtin: Mapping[str, Sequence[Document]] | None = None,
    ) -> None:
        self.root = root
        self.policy = policy
        self._analyzer = TextAnalyzer()
        self._cache_size = cache_size
        self._cache: OrderedDict[str, KnowledgeBase] = OrderedDict()
        self._builtin_documents = dict(builtin or {})
        self._builtin: dict[str, KnowledgeBase] = {}
        # A lock lives while someone holds or waits for it, so ids that were only looked up
        # (or never existed) leave nothing behind.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def open(self) -> None:
        """Prepares the folder (removing temporary files a crash left) and builds built-ins."""
        await asyncio.to_thread(self._prepare_root)
        for kb_id, documents in self._builtin_documents.items():
            self._builtin[kb_id] = await asyncio.to_thread(self._build, kb_id, documents)
            logger.info(
                "built-in knowledge base %r: %d documents, %d passages",
                kb_id,
                len(self._builtin[kb_id].documents),
                len(self._builtin[kb_id].passages),
            )

    def is_builtin(self, kb_id: str) -> bool:
        """Whether ``kb_id`` names a read-only knowledge base that ships with the service."""
        return kb_id in self._builtin_documents

    async def get(self, kb_id: str) -> KnowledgeBase:
        """The knowledge base ``kb_id``, loading and indexing it if it is not in memory.

        Raises:
            NotFound: No such knowledge base.
        """
        if kb_id in self._builtin:
            return self._builtin[kb_id]
        if (cached := self._cached(kb_id)) is not None:
            return cached
        async with self._lock(kb_id):
            if (cached := self._cached(kb_id)) is not None:
                return cached
            documents = await asyncio.to_thread(self._read, kb_id)
            if documents is None:
                raise NotFound(
                    f"knowledge base {kb_id!r} does not exist; create it with IndexDocuments"
                )
            knowledge_base = await asyncio.to_thread(self._build, kb_id, documents)
            self._remember(knowledge_base)
            return knowledge_base

    async def index_documents(self, kb_id: str, documents: Sequence[Document]) -> KnowledgeBase:
        """Adds documents to ``kb_id`` (creating it), replacing those with the same ids.

        Returns:
            The knowledge base after indexing, already saved.

        Raises:
            InvalidArgument: ``kb_id`` names a built-in knowledge base.
        """
        self._check_writable(kb_id)
        async with self._lock(kb_id):
            current = self._cached(kb_id)
            if current is not None:
                existing: list[Document] | None = list(current.documents.values())
            else:
                existing = await asyncio.to_thread(self._read, kb_id)
            merged = {d.id: d for d in existing or []} | {d.id: d for d in documents}
            knowledge_base = await asyncio.to_thread(self._build, kb_id, list(merged.values()))
            await asyncio.to_thread(self._write, kb_id, knowledge_base.documents.values())
            self._remember(knowledge_base)
            return knowledge_base

    async def delete(self, kb_id: str) -> int:
        """Deletes ``kb_id`` and returns how many documents it held.

        Raises:
            InvalidArgument: ``kb_id`` names a built-in knowledge base.
            NotFound: No such knowledge base.
        """
        self._check_writable(kb_id)
        async with self._lock(kb_id):
            current = self._cached(kb_id)
            documents = (
                list(current.documents.values())
                if current is not None
                else await asyncio.to_thread(self._read, kb_id)
            )
            if documents is None:
                raise NotFound(f"knowledge base {kb_id!r} does not exist")
            await asyncio.to_thread(self._remove, kb_id)
            self._cache.pop(kb_id, None)
            return len(documents)

    # --- memory ---

    def _lock(self, kb_id: str) -> asyncio.Lock:
        lock = self._locks.get(kb_id)
        if lock is None:
            lock = self._locks[kb_id] = asyncio.Lock()
        return lock

    def _cached(self, kb_id: str) -> KnowledgeBase | None:
        knowledge_base = self._cache.get(kb_id)
        if knowledge_base is not None:
            self._cache.move_to_end(kb_id)
        return knowledge_base

    def _remember(self, knowledge_base: KnowledgeBase) -> None:
        self._cache[knowledge_base.id] = knowledge_base
        self._cache.move_to_end(knowledge_base.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _build(self, kb_id: str, documents: Sequence[Document]) -> KnowledgeBase:
        return KnowledgeBase(kb_id, documents, analyzer=self._analyzer, policy=self.policy)

    def _check_writable(self, kb_id: str) -> None:
        if self.is_builtin(kb_id):
            raise InvalidArgument(
                f"knowledge base {kb_id!r} ships with the service and is read-only; "
                "use another id for your own documents"
            )

    # --- disk (blocking; called in threads) ---

    def _path(self, kb_id: str) -> Path:
        # Ids are validated at the API; this guards the file system against any other caller.
        if not ID_PATTERN.fullmatch(kb_id):
            raise InvalidArgument(f"invalid knowledge base id {kb_id!r}")
        return self.root / f"{kb_id}{_SUFFIX}"

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for leftover in self.root.glob(f".*{_TEMP_SUFFIX}"):
            logger.warning("removing %s, left by an interrupted write", leftover.name)
            leftover.unlink(missing_ok=True)

    def _read(self, kb_id: str) -> list[Document] | None:
        path = self._path(kb_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            content = json.loads(raw)
            if content.get("format") != FORMAT_VERSION:
                raise ValueError(f"unknown format {content.get('format')!r}")
            return [Document(d["id"], d["title"], d["text"]) for d in content["documents"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.error("cannot read %s: %s", path, exc)
            raise ServiceError(
                f"knowledge base {kb_id!r} is unreadable on disk ({exc}); index it again",
                code=grpc.StatusCode.DATA_LOSS,
            ) from exc

    def _write(self, kb_id: str, documents: Iterable[Document]) -> None:
        path = self._path(kb_id)
        content = {
            "format": FORMAT_VERSION,
            "knowledge_base_id": kb_id,
            "documents": [{"id": d.id, "title": d.title, "text": d.text} for d in documents],
        }
        data = json.dumps(content, ensure_ascii=False).encode()
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
        try:
            with open(temp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(path.parent)

    def _remove(self, kb_id: str) -> None:
        path = self._path(kb_id)
        path.unlink(missing_ok=True)
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Makes a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
