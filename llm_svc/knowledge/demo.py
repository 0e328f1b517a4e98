"""The demo knowledge base that ships with the service (``llm_svc/data/demo/*.md``).

It is what a fresh install answers from: how to use the tutor, and a few school topics. Each
file is one document: its id is the file name without ``.md``, its title the first ``# ``
heading, its text everything after that heading.
"""

from __future__ import annotations

from importlib import resources

from llm_svc.knowledge.documents import Document

DEMO_KNOWLEDGE_BASE_ID = "demo"


def load_demo_documents() -> list[Document]:
    """The demo documents, sorted by id."""
    folder = resources.files("llm_svc") / "data" / "demo"
    documents = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".md"):
            continue
        title, _, text = entry.read_text(encoding="utf-8").partition("\n")
        documents.append(
            Document(
                id=entry.name.removesuffix(".md"),
                title=title.lstrip("# ").strip(),
                text=text.strip(),
            )
        )
    if not documents:
        raise FileNotFoundError(f"no demo documents in {folder}: the package is incomplete")
    return documents
