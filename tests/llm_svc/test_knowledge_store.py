"""KnowledgeBaseStore: atomic files surviving restarts, replacement by id, read-only built-ins."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from llm_svc.knowledge.demo import load_demo_documents
from llm_svc.knowledge.documents import Document
from llm_svc.knowledge.index import RelevancePolicy
from llm_svc.knowledge.store import KnowledgeBaseStore
from svc_core.errors import InvalidArgument, NotFound, ServiceError

pytestmark = pytest.mark.unit

VOLCANO = Document("volcano", "Volcanoes", "A volcano erupts when magma rises to the surface.")
TIDES = Document("tides", "Tides", "Tides are caused by the pull of the moon on the oceans.")


def _store(root, **kwargs) -> KnowledgeBaseStore:
    return KnowledgeBaseStore(root, policy=RelevancePolicy(), **kwargs)


async def test_an_indexed_knowledge_base_is_found_by_a_new_store_on_the_same_folder(tmp_path):
    first = _store(tmp_path)
    await first.open()
    await first.index_documents("earth", [VOLCANO, TIDES])

    second = _store(tmp_path)
    await second.open()
    kb = await second.get("earth")
    assert set(kb.documents) == {"volcano", "tides"}
    [hit] = kb.search("why does a volcano erupt", limit=1)
    assert hit.passage.document_id == "volcano"
    # Only the finished file is left: no temporary files.
    assert [p.name for p in tmp_path.iterdir()] == ["earth.json"]


async def test_a_document_with_an_existing_id_replaces_the_old_version(tmp_path):
    store = _store(tmp_path)
    await store.open()
    await store.index_documents("earth", [VOLCANO, TIDES])
    kb = await store.index_documents(
        "earth", [Document("volcano", "Volcanoes", "Lava is molten rock.")]
    )
    assert len(kb.documents) == 2
    assert kb.documents["volcano"].text == "Lava is molten rock."
    saved = json.loads((tmp_path / "earth.json").read_text())
    assert sorted(d["id"] for d in saved["documents"]) == ["tides", "volcano"]


async def test_delete_removes_the_file_and_counts_documents(tmp_path):
    store = _store(tmp_path)
    await store.open()
    await store.index_documents("earth", [VOLCANO, TIDES])
    assert await store.delete("earth") == 2
    assert not (tmp_path / "earth.json").exists()
    with pytest.raises(NotFound):
        await store.get("earth")
    with pytest.raises(NotFound):
        await store.delete("earth")


async def test_unknown_knowledge_base_is_not_found(tmp_path):
    store = _store(tmp_path)
    await store.open()
    with pytest.raises(NotFound, match="IndexDocuments"):
        await store.get("nothing-here")


async def test_built_in_knowledge_bases_are_read_only(tmp_path):
    store = _store(tmp_path, builtin={"demo": load_demo_documents()})
    await store.open()
    assert len((await store.get("demo")).documents) >= 5
    with pytest.raises(InvalidArgument, match="read-only"):
        await store.index_documents("demo", [VOLCANO])
    with pytest.raises(InvalidArgument, match="read-only"):
        await store.delete("demo")


async def test_concurrent_indexing_into_one_knowledge_base_keeps_every_document(tmp_path):
    store = _store(tmp_path)
    await store.open()
    documents = [Document(f"doc{i}", f"Doc {i}", f"Fact number {i} is here.") for i in range(12)]
    await asyncio.gather(*(store.index_documents("many", [d]) for d in documents))
    reopened = _store(tmp_path)
    await reopened.open()
    assert len((await reopened.get("many")).documents) == 12


async def test_evicted_knowledge_bases_are_reloaded_from_disk(tmp_path):
    store = _store(tmp_path, cache_size=1)
    await store.open()
    await store.index_documents("a", [VOLCANO])
    await store.index_documents("b", [TIDES])  # evicts "a" from memory
    kb = await store.get("a")
    assert set(kb.documents) == {"volcano"}


async def test_leftover_temporary_files_are_removed_and_corrupt_files_reported(tmp_path):
    (tmp_path / ".earth.json.0123.tmp").write_text("half a fi")
    (tmp_path / "broken.json").write_text("{not json")
    store = _store(tmp_path)
    await store.open()
    assert not (tmp_path / ".earth.json.0123.tmp").exists()
    with pytest.raises(ServiceError) as info:
        await store.get("broken")
    assert info.value.code == grpc.StatusCode.DATA_LOSS


async def test_ids_that_could_escape_the_folder_are_refused(tmp_path):
    store = _store(tmp_path / "kbs")
    await store.open()
    with pytest.raises(InvalidArgument):
        await store.index_documents("../outside", [VOLCANO])
    assert list(tmp_path.iterdir()) == [tmp_path / "kbs"]
