"""Students of the admin's tenant: create, list, get, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import CurrentAdmin, SessionDep, not_found

router = APIRouter(prefix="/api/students", tags=["students"])


def _student(db: SessionDep, admin: CurrentAdmin, student_id: str) -> models.Student:
    student = crud.get_student(db=db, tenant_id=admin.tenant_id, student_id=student_id)
    if student is None:
        raise not_found("student")
    return student


@router.post("", status_code=status.HTTP_201_CREATED)
def create_student(
    body: schemas.StudentCreate, db: SessionDep, admin: CurrentAdmin
) -> schemas.StudentPublic:
    """Creates a student in the admin's tenant (409 when the email is in use)."""
    try:
        student = crud.create_student(db=db, tenant_id=admin.tenant_id, data=body)
    except crud.EmailTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="email already in use") from None
    return schemas.StudentPublic.model_validate(student)


@router.get("")
def list_students(db: SessionDep, admin: CurrentAdmin) -> list[schemas.StudentPublic]:
    """The tenant's students."""
    students = crud.list_students(db=db, tenant_id=admin.tenant_id)
    return [schemas.StudentPublic.model_validate(s) for s in students]


@router.get("/{student_id}")
def get_student(student_id: str, db: SessionDep, admin: CurrentAdmin) -> schemas.StudentPublic:
    """One student."""
    return schemas.StudentPublic.model_validate(_student(db, admin, student_id))


@router.patch("/{student_id}")
def update_student(
    student_id: str, body: schemas.StudentUpdate, db: SessionDep, admin: CurrentAdmin
) -> schemas.StudentPublic:
    """Changes a student's name, password or active flag."""
    student = crud.update_student(db=db, student=_student(db, admin, student_id), data=body)
    return schemas.StudentPublic.model_validate(student)


@router.delete("/{student_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_student(student_id: str, db: SessionDep, admin: CurrentAdmin) -> None:
    """Deletes a student and their sessions."""
    crud.delete_row(db=db, row=_student(db, admin, student_id))
