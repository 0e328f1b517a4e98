"""A tutor's knowledge documents (text, Markdown, PDF), indexed through the gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import Context, CurrentAdmin, Gateway, SessionDep, not_found, tutor_of
from web_backend.app.core.gateway import DocumentText, GatewayError
from web_backend.app.core.uploads import document_text, too_large

router = APIRouter(prefix="/api/tutors/{tutor_id}/documents", tags=["documents"])

MAX_FILES = 20


def _public(row: models.KnowledgeDocument) -> schemas.DocumentPublic:
    public = schemas.DocumentPublic.model_validate(row)
    public.characters = len(row.text)
    return public


def _for_index(row: models.KnowledgeDocument) -> DocumentText:
    return DocumentText(document_id=row.id, title=row.title, text=row.text)


@router.post("", status_code=status.HTTP_201_CREATED)
async def upload_documents(
    tutor_id: str,
    files: Annotated[list[UploadFile], File(description=".txt, .md or .pdf")],
    db: SessionDep,
    admin: CurrentAdmin,
    gateway: Gateway,
    ctx: Context,
) -> schemas.DocumentsIndexed:
    """Indexes documents into the tutor's knowledge base, then records them.

    Nothing is recorded when any file is refused or indexing fails.
    """
    tutor = tutor_of(db, admin, tutor_id)
    if len(files) > MAX_FILES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"at most {MAX_FILES} files at once"
        )
    limit = ctx.settings.max_document_bytes
    parsed: list[dict[str, str]] = []
    for upload in files:
        filename = (upload.filename or "document").rsplit("/", 1)[-1][:255]
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise too_large(filename, limit)
        text, content_type = await document_text(filename, data, ctx.pdfs)
        title = filename.rsplit(".", 1)[0] or filename
        parsed.append(
            {
                "id": crud.new_document_id(),
                "filename": filename,
                "title": title,
                "content_type": content_type,
                "text": text,
            }
        )
    document_count, passage_count = await gateway.index_documents(
        tutor.knowledge_base_id,
        [DocumentText(d["id"], d["title"], d["text"]) for d in parsed],
    )
    rows = crud.add_documents(db=db, tutor=tutor, documents=parsed)
    return schemas.DocumentsIndexed(
        documents=[_public(r) for r in rows],
        document_count=document_count,
        passage_count=passage_count,
    )


@router.get("")
def list_documents(
    tutor_id: str, db: SessionDep, admin: CurrentAdmin
) -> list[schemas.DocumentPublic]:
    """The tutor's documents."""
    tutor = tutor_of(db, admin, tutor_id)
    return [_public(r) for r in crud.list_documents(db=db, tutor_id=tutor.id)]


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    tutor_id: str, document_id: str, db: SessionDep, admin: CurrentAdmin, gateway: Gateway
) -> None:
    """Removes a document: the knowledge base is rebuilt from the remaining ones."""
    tutor = tutor_of(db, admin, tutor_id)
    row = crud.get_document(
        db=db, tenant_id=admin.tenant_id, tutor_id=tutor.id, document_id=document_id
    )
    if row is None:
        raise not_found("document")
    # The knowledge base has no per-document delete: rebuild it without this one.
    remaining = [d for d in crud.list_documents(db=db, tutor_id=tutor.id) if d.id != row.id]
    try:
        await gateway.delete_knowledge_base(tutor.knowledge_base_id)
    except GatewayError as error:
        if error.code != "NOT_FOUND":
            raise
    if remaining:
        await gateway.index_documents(tutor.knowledge_base_id, [_for_index(d) for d in remaining])
    crud.delete_row(db=db, row=row)
