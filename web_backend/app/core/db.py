"""Database engine and sessions, and Alembic migrations applied at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys on and cross-thread use allowed.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
    """
    if url.startswith("sqlite"):
        _make_sqlite_folder(url)
        # FastAPI runs sync dependencies and routes in a thread pool.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # SQLite ignores ON DELETE CASCADE unless asked; WAL lets page polls read while
            # an avatar job writes progress.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _make_sqlite_folder(url: str) -> None:
    # A first run starts with no data dir; SQLite creates the file but not its folder.
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (routes return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside this package."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Applies every migration not yet applied (idempotent)."""
    _make_sqlite_folder(url)
    command.upgrade(alembic_config(url), "head")
