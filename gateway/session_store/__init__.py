"""Where gateway sessions live: ``open_store`` picks SQLite (default) or Redis from settings."""

from __future__ import annotations

from pathlib import Path

from gateway.session_store.base import SessionStore, StoredSession

__all__ = ["SessionStore", "StoredSession", "open_store"]

SQLITE_FILE = "sessions.sqlite3"


def open_store(setting: str, data_dir: Path) -> SessionStore:
    """The store ``GATEWAY_SESSION_STORE`` names.

    Args:
        setting: "" or "sqlite" for ``<data_dir>/sessions.sqlite3``, ``sqlite:///<path>`` for
            another file, ``redis://`` or ``rediss://`` URL for Redis.
        data_dir: ``GATEWAY_DATA_DIR``.

    Raises:
        ValueError: A setting that names no store.
    """
    if setting in ("", "sqlite"):
        from gateway.session_store.sqlite import SqliteSessionStore

        return SqliteSessionStore(data_dir / SQLITE_FILE)
    if setting.startswith("sqlite:///"):
        from gateway.session_store.sqlite import SqliteSessionStore

        return SqliteSessionStore(Path(setting.removeprefix("sqlite:///")))
    if setting.startswith(("redis://", "rediss://", "unix://")):
        # Imported here, so a gateway on the embedded store never needs redis-py.
        from gateway.session_store.redis import RedisSessionStore

        return RedisSessionStore(setting)
    raise ValueError(
        f"GATEWAY_SESSION_STORE={setting!r} names no session store: use 'sqlite' (the default),"
        " 'sqlite:///<path>' or a 'redis://host:port/db' URL"
    )
