"""The session store interface: what a gateway keeps about a session so any replica resumes it.

A store holds each session's row (tenant, student, tutor profile, token digest, expiry, state,
the gateway instance serving its stream) and its finished turns. The registry in
``gateway.sessions`` keeps live sessions in memory in front of it; the store is the truth across
restarts and replicas. Every write is awaited before the caller goes on, so nothing a client was
told about is lost when the process dies.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.turn_records import TurnRecord

# States (the values of gateway.sessions.SessionState) a live session can be in.
LIVE_STATES = frozenset({"ready", "connected"})


@dataclass
class StoredSession:
    """One session's row.

    Attributes:
        tutor: The tutor profile's fields (plain JSON values).
        token_digest: SHA-256 of the engine token; the token itself is never stored.
        state: A ``SessionState`` value ("ready", "connected", "ended", "expired").
        owner: Instance id of the gateway serving its Converse stream ("" when none).
        disconnect_time: When its last Converse stream closed (None while connected or never).
        end_time: When it ended or expired.
        end_reason: Why it ended ("ended", "left", "idle", "expired").
        turn_count: Finished turns stored (filled in by ``load`` and ``list_tenant``).
    """

    session_id: str
    tenant_id: str
    student_id: str
    tutor: dict[str, Any]
    engine_url: str
    create_time: datetime
    expire_time: datetime
    token_digest: bytes = field(repr=False)
    state: str = "ready"
    last_activity_time: datetime | None = None
    owner: str = ""
    disconnect_time: datetime | None = None
    end_time: datetime | None = None
    end_reason: str = ""
    turn_count: int = 0

    @property
    def live(self) -> bool:
        """True until the session ends or expires."""
        return self.state in LIVE_STATES


# Fields ``SessionStore.update`` may change.
MUTABLE_FIELDS = frozenset(
    {"state", "last_activity_time", "owner", "disconnect_time", "end_time", "end_reason"}
)


class SessionStore(abc.ABC):
    """Where sessions and their turns live (SQLite file, Redis)."""

    @abc.abstractmethod
    async def create(self, session: StoredSession) -> None:
        """Stores a new session."""

    @abc.abstractmethod
    async def load(self, session_id: str) -> StoredSession | None:
        """The session's row (with its turn count), or None when there is no such session."""

    @abc.abstractmethod
    async def update(
        self,
        session_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: frozenset[str] | None = None,
        expect_owner: str | None = None,
    ) -> bool:
        """Changes fields of a session, atomically, only when it is in ``expect_state`` and
        served by ``expect_owner`` (each when given); True when it changed.

        Raises:
            ValueError: A field that is not one of ``MUTABLE_FIELDS``.
        """

    @abc.abstractmethod
    async def append_turn(self, session_id: str, record: TurnRecord) -> None:
        """Keeps a finished turn at ``record.turn_index``."""

    @abc.abstractmethod
    async def turns(self, session_id: str, start: int = 0) -> list[TurnRecord]:
        """The session's turns from index ``start`` on, oldest first."""

    @abc.abstractmethod
    async def list_tenant(
        self, tenant_id: str, offset: int, limit: int
    ) -> tuple[list[StoredSession], bool]:
        """A page of the tenant's sessions, newest first, and whether more follow."""

    @abc.abstractmethod
    async def live_sessions(self) -> list[StoredSession]:
        """Every session that has not ended or expired (rows may leave out the tutor, the
        token digest and the turn count: housekeeping reads none of them)."""

    @abc.abstractmethod
    async def purge_ended(self, before: datetime) -> int:
        """Forgets sessions that ended before ``before``; returns how many."""

    @abc.abstractmethod
    async def heartbeat(self, instance_id: str, ttl_s: float) -> None:
        """Says gateway ``instance_id`` is alive for the next ``ttl_s`` seconds."""

    @abc.abstractmethod
    async def alive(self, instance_id: str) -> bool:
        """True when ``instance_id``'s last heartbeat has not lapsed."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases the connection."""


def check_fields(changes: Mapping[str, Any]) -> None:
    """Raises ValueError for a field ``update`` may not change."""
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        raise ValueError(f"session fields that cannot be updated: {sorted(unknown)}")
