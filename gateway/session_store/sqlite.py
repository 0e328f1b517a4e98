"""The embedded session store: one SQLite file under GATEWAY_DATA_DIR, no server needed.

A restarted gateway opens the same file and resumes its sessions. All access goes through one
thread that owns the connection (sqlite3 objects stay on the thread that made them), so the
event loop never blocks on disk. WAL journaling with ``synchronous=NORMAL``: a committed turn
survives the process being killed; several gateway processes may share the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.session_store.base import (
    LIVE_STATES,
    SessionStore,
    StoredSession,
    check_fields,
)
from gateway.session_store.codec import (
    housekeeping_session,
    time_text,
    time_value,
    turn_from_json,
    turn_to_json,
    tutor_json,
)
from gateway.turn_records import TurnRecord

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    tutor TEXT NOT NULL,
    engine_url TEXT NOT NULL,
    create_time TEXT NOT NULL,
    create_ts REAL NOT NULL,
    expire_time TEXT NOT NULL,
    token_digest BLOB NOT NULL,
    state TEXT NOT NULL,
    last_activity_time TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    disconnect_time TEXT NOT NULL DEFAULT '',
    end_time TEXT NOT NULL DEFAULT '',
    end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_by_tenant ON sessions (tenant_id, create_ts);
CREATE INDEX IF NOT EXISTS sessions_by_state ON sessions (state);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL,
    turn_index INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (session_id, turn_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    alive_until REAL NOT NULL
);
"""

_COLUMNS = (
    "session_id, tenant_id, student_id, tutor, engine_url, create_time, expire_time, "
    "token_digest, state, last_activity_time, owner, disconnect_time, end_time, end_reason, "
    "(SELECT COUNT(*) FROM turns t WHERE t.session_id = sessions.session_id)"
)
_TIME_FIELDS = {"last_activity_time", "disconnect_time", "end_time"}


def _row(values: tuple[Any, ...]) -> StoredSession:
    create_time = time_value(values[5])
    expire_time = time_value(values[6])
    assert create_time is not None and expire_time is not None
    return StoredSession(
        session_id=values[0],
        tenant_id=values[1],
        student_id=values[2],
        tutor=json.loads(values[3]),
        engine_url=values[4],
        create_time=create_time,
        expire_time=expire_time,
        token_digest=bytes(values[7]),
        state=values[8],
        last_activity_time=time_value(values[9]),
        owner=values[10],
        disconnect_time=time_value(values[11]),
        end_time=time_value(values[12]),
        end_reason=values[13],
        turn_count=int(values[14]),
    )


class SqliteSessionStore(SessionStore):
    """Sessions in a SQLite file.

    Args:
        path: The database file (its folder is created).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-store")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit; a busy timeout lets processes sharing the file wait for each other.
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return work(self._db)

    async def create(self, session: StoredSession) -> None:
        values = (
            session.session_id,
            session.tenant_id,
            session.student_id,
            tutor_json(session.tutor),
            session.engine_url,
            time_text(session.create_time),
            session.create_time.timestamp(),
            time_text(session.expire_time),
            session.token_digest,
            session.state,
            time_text(session.last_activity_time),
            session.owner,
            time_text(session.disconnect_time),
            time_text(session.end_time),
            session.end_reason,
        )
        await self._run(
            lambda db: db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values
            )
        )

    async def load(self, session_id: str) -> StoredSession | None:
        def work(db: sqlite3.Connection) -> StoredSession | None:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            return _row(found) if found else None

        return await self._run(work)

    async def update(
        self,
        session_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: frozenset[str] | None = None,
        expect_owner: str | None = None,
    ) -> bool:
        check_fields(changes)
        if not changes:
            return True
        sets = ", ".join(f"{name} = ?" for name in changes)
        params: list[Any] = [
            time_text(value) if name in _TIME_FIELDS else value for name, value in changes.items()
        ]
        where = "session_id = ?"
        params.append(session_id)
        if expect_state is not None:
            where += f" AND state IN ({', '.join('?' * len(expect_state))})"
            params.extend(sorted(expect_state))
        if expect_owner is not None:
            where += " AND owner = ?"
            params.append(expect_owner)
        sql = f"UPDATE sessions SET {sets} WHERE {where}"
        changed = await self._run(lambda db: db.execute(sql, params).rowcount)
        return changed > 0

    async def append_turn(self, session_id: str, record: TurnRecord) -> None:
        text = turn_to_json(record)
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO turns VALUES (?, ?, ?)",
                (session_id, record.turn_index, text),
            )
        )

    async def turns(self, session_id: str, start: int = 0) -> list[TurnRecord]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT record FROM turns WHERE session_id = ? AND turn_index >= ?"
                " ORDER BY turn_index",
                (session_id, start),
            ).fetchall()
        )
        return [turn_from_json(text) for (text,) in rows]

    async def list_tenant(
        self, tenant_id: str, offset: int, limit: int
    ) -> tuple[list[StoredSession], bool]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE tenant_id = ?"
                " ORDER BY create_ts DESC, session_id LIMIT ? OFFSET ?",
                (tenant_id, limit + 1, offset),
            ).fetchall()
        )
        return [_row(r) for r in rows[:limit]], len(rows) > limit

    async def live_sessions(self) -> list[StoredSession]:
        """Every live session, with the fields housekeeping reads (no tutor, no digest)."""
        states = sorted(LIVE_STATES)
        rows = await self._run(
            lambda db: db.execute(
                "SELECT session_id, tenant_id, create_time, expire_time, state,"
                " last_activity_time, owner, disconnect_time FROM sessions WHERE state IN (?, ?)",
                states,
            ).fetchall()
        )
        found = []
        for session_id, tenant, created, expires, state, active, owner, gone in rows:
            row = housekeeping_session(
                session_id, tenant, state, created, expires, active, owner, gone
            )
            if row is not None:
                found.append(row)
        return found

    async def purge_ended(self, before: Any) -> int:
        states = sorted(LIVE_STATES)
        cutoff = time_text(before)

        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                old = "state NOT IN (?, ?) AND end_time != '' AND end_time < ?"
                db.execute(
                    f"DELETE FROM turns WHERE session_id IN"
                    f" (SELECT session_id FROM sessions WHERE {old})",
                    (*states, cutoff),
                )
                count = db.execute(f"DELETE FROM sessions WHERE {old}", (*states, cutoff)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(count)

        return await self._run(work)

    async def heartbeat(self, instance_id: str, ttl_s: float) -> None:
        until = time.time() + ttl_s
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO instances VALUES (?, ?)", (instance_id, until)
            )
        )

    async def alive(self, instance_id: str) -> bool:
        row = await self._run(
            lambda db: db.execute(
                "SELECT alive_until FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
        )
        return bool(row) and float(row[0]) > time.time()

    async def close(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(work)
            self._db = None
        self._executor.shutdown(wait=False)
