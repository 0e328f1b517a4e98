"""Health, and the admin and student pages (static HTML and JavaScript from ui/)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import text

from web_backend.app.api.deps import SessionDep

UI_DIR = Path(__file__).resolve().parents[3] / "ui" / "static"

router = APIRouter()


@router.get("/health", tags=["health"])
def health(db: SessionDep) -> dict[str, str]:
    """Liveness with a database round trip (503 when the database does not answer)."""
    try:
        db.execute(text("SELECT 1"))
    except Exception:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database down") from None
    return {"status": "ok"}


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    """The student page is the front door; admins have /admin."""
    return RedirectResponse("/student")


@router.get("/admin", include_in_schema=False)
def admin_page() -> FileResponse:
    """The admin page."""
    return FileResponse(UI_DIR / "admin.html")


@router.get("/student", include_in_schema=False)
def student_page() -> FileResponse:
    """The student page."""
    return FileResponse(UI_DIR / "student.html")


@router.get("/join", include_in_schema=False)
def join_page() -> FileResponse:
    """Where a join link lands: it reads the secret from the fragment and opens the session.

    Not cached, and (like every page) sent with Referrer-Policy: no-referrer.
    """
    return FileResponse(UI_DIR / "join.html", headers={"Cache-Control": "no-store"})
