"""Tutor sessions: creation with an engine token, lookup, expiry, idle timeout, turn history."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.turn_records import TurnOutcome, TurnRecord
from gateway.upstream.llm_client import ChatMessage
from svc_core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)

logger = logging.getLogger(__name__)

MAX_TTL_S = 86400
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class SessionState(enum.Enum):
    """Life of a session."""

    READY = "ready"
    CONNECTED = "connected"
    ENDED = "ended"
    EXPIRED = "expired"


@dataclass(frozen=True)
class TutorProfile:
    """Who the tutor is in a session."""

    tutor_id: str = ""
    display_name: str = ""
    system_prompt: str = ""
    llm_model: str = ""
    voice: str = ""
    avatar_id: str = ""
    language_code: str = ""
    knowledge_base_id: str = ""
    video_enabled: bool = False
    phrase_hints: tuple[str, ...] = ()


def _token_digest(token: str) -> bytes:
    # Only a digest is kept, so a memory dump or a log of the registry never shows a token.
    return hashlib.sha256(token.encode()).digest()


@dataclass
class Session:
    """A student's session with a tutor."""

    session_id: str
    tenant_id: str
    student_id: str
    tutor: TutorProfile
    engine_url: str
    create_time: datetime
    expire_time: datetime
    token_digest: bytes = field(repr=False)
    state: SessionState = SessionState.READY
    last_activity_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_activity_monotonic: float = field(default_factory=time.monotonic)
    turns: list[TurnRecord] = field(default_factory=list)
    # Set when the session ends or expires: its Converse stream closes.
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    turn_added: asyncio.Condition = field(default_factory=asyncio.Condition)
    ended_monotonic: float = 0.0

    @property
    def live(self) -> bool:
        """True until the session ends or expires."""
        return self.state in (SessionState.READY, SessionState.CONNECTED)

    @property
    def turn_count(self) -> int:
        """Finished turns so far."""
        return len(self.turns)

    def touch(self) -> None:
        """Records activity (audio, text or a turn), which defers the idle timeout."""
        self.last_activity_monotonic = time.monotonic()
        self.last_activity_time = datetime.now(UTC)

    def history(self, max_turns: int) -> list[ChatMessage]:
        """The conversation so far for the LLM, oldest first: what was said, not what failed."""
        kept = [t for t in self.turns if t.outcome is not TurnOutcome.FAILED]
        messages: list[ChatMessage] = []
        for turn in kept[-max_turns:] if max_turns else []:
            messages.append(ChatMessage("user", turn.user_text))
            if turn.assistant_text:
                messages.append(ChatMessage("assistant", turn.assistant_text))
        return messages


class SessionRegistry:
    """All sessions of this gateway instance, in memory.

    Args:
        max_sessions: Live sessions allowed at once (RESOURCE_EXHAUSTED past it).
        idle_timeout_s: A session without activity this long expires.
        default_ttl_s: Lifetime of an engine token when a request gives none.
        ended_retention_s: How long ended and expired sessions stay readable.
    """

    def __init__(
        self,
        *,
        max_sessions: int,
        idle_timeout_s: float,
        default_ttl_s: int,
        ended_retention_s: float,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.default_ttl_s = default_ttl_s
        self.ended_retention_s = ended_retention_s
        self._sessions: dict[str, Session] = {}

    def create(
        self,
        *,
        tenant_id: str,
        student_id: str,
        tutor: TutorProfile,
        engine_url: str,
        ttl_s: int = 0,
    ) -> tuple[Session, str]:
        """Creates a session; returns it with its engine token (shown only here).

        Raises:
            InvalidArgument: A required field is missing or the TTL is out of range.
            ResourceExhausted: The gateway holds its maximum of live sessions.
        """
        if not tenant_id or not student_id:
            raise InvalidArgument("tenant_id and student_id are required")
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise InvalidArgument(f"ttl_seconds must be 0-{MAX_TTL_S}, got {ttl_s}")
        self.sweep()
        live = self.live_count
        if live >= self.max_sessions:
            raise ResourceExhausted(f"this gateway already holds {live} sessions (the maximum)")
        # 256 bits from the OS CSPRNG, URL-safe so it travels in metadata unchanged.
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(
            session_id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            student_id=student_id,
            tutor=tutor,
            engine_url=engine_url,
            create_time=now,
            expire_time=now + timedelta(seconds=ttl_s or self.default_ttl_s),
            token_digest=_token_digest(token),
        )
        self._sessions[session.session_id] = session
        logger.info("session %s created for tenant %s", session.session_id, tenant_id)
        return session, token

    @property
    def live_count(self) -> int:
        """Sessions created and not yet ended or expired."""
        return sum(1 for s in self._sessions.values() if s.live)

    def get(self, session_id: str) -> Session:
        """The session with this id (ended ones too, for a while).

        Raises:
            NotFound: No such session.
        """
        self._expire_if_due(session_id)
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}")
        return session

    def list(
        self, tenant_id: str, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Session], str]:
        """A page of a tenant's sessions, newest first, and the next page's token ("" at the end).

        Raises:
            InvalidArgument: No tenant, a bad page size or page token.
        """
        if not tenant_id:
            raise InvalidArgument("tenant_id is required")
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page_size must be 0-{MAX_PAGE_SIZE}")
        try:
            offset = int(page_token) if page_token else 0
        except ValueError:
            raise InvalidArgument("page_token is not one this gateway issued") from None
        self.sweep()
        mine = sorted(
            (s for s in self._sessions.values() if s.tenant_id == tenant_id),
            key=lambda s: s.create_time,
            reverse=True,
        )
        size = page_size or DEFAULT_PAGE_SIZE
        page = mine[offset : offset + size]
        more = offset + size < len(mine)
        return page, str(offset + size) if more else ""

    def end(self, session_id: str) -> Session:
        """Ends a session: its token stops working and its Converse stream closes."""
        session = self.get(session_id)
        if session.live:
            self._close(session, SessionState.ENDED)
        return session

    def check_token(self, session_id: str, token: str) -> Session:
        """The live session ``token`` is the engine token of (Converse and CheckEngineToken).

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
        """
        self._expire_if_due(session_id)
        session = self._sessions.get(session_id)
        # Compare against a digest even for an unknown id so timing does not tell the two apart.
        digest = session.token_digest if session else bytes(32)
        token_ok = hmac.compare_digest(_token_digest(token), digest)
        if session is None or not token_ok:
            raise Unauthenticated("the engine token is not valid for this session")
        if session.state is SessionState.EXPIRED:
            raise Unauthenticated("the session has expired")
        if session.state is SessionState.ENDED:
            raise Unauthenticated("the session has ended")
        return session

    def authorize_converse(self, session_id: str, token: str) -> Session:
        """The session a Converse stream may open with ``token``.

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
            FailedPrecondition: The session already has a Converse stream.
        """
        session = self.check_token(session_id, token)
        if session.state is SessionState.CONNECTED:
            raise FailedPrecondition("the session already has a Converse stream")
        return session

    def connect(self, session: Session) -> None:
        """Marks a session as having its Converse stream."""
        session.state = SessionState.CONNECTED
        session.touch()

    def disconnect(self, session: Session) -> None:
        """Marks a session's Converse stream as closed (the session stays usable)."""
        if session.state is SessionState.CONNECTED:
            session.state = SessionState.READY
            session.touch()

    async def add_turn(self, session: Session, record: TurnRecord) -> None:
        """Appends a finished turn and wakes WatchSessionTurns streams."""
        record.turn_index = len(session.turns)
        session.turns.append(record)
        session.touch()
        async with session.turn_added:
            session.turn_added.notify_all()

    async def watch_turns(self, session: Session, from_index: int) -> AsyncIterator[TurnRecord]:
        """The session's turns from ``from_index`` on, then new ones; ends with the session."""
        index = max(from_index, 0)
        while True:
            while index < len(session.turns):
                yield session.turns[index]
                index += 1
            if not session.live:
                return
            async with session.turn_added:
                with contextlib.suppress(TimeoutError):
                    # Wake at least each second to notice the session ending.
                    await asyncio.wait_for(session.turn_added.wait(), 1.0)

    def sweep(self) -> None:
        """Expires sessions past their token expiry or idle timeout; forgets old ended ones."""
        now = time.monotonic()
        for session_id in list(self._sessions):
            self._expire_if_due(session_id, now)
            session = self._sessions[session_id]
            if not session.live and now - session.ended_monotonic > self.ended_retention_s:
                del self._sessions[session_id]

    async def run_sweeper(self, interval_s: float) -> None:
        """Sweeps forever, every ``interval_s`` (cancel to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            self.sweep()

    def _expire_if_due(self, session_id: str, now: float | None = None) -> None:
        session = self._sessions.get(session_id)
        if session is None or not session.live:
            return
        now = time.monotonic() if now is None else now
        idle = now - session.last_activity_monotonic > self.idle_timeout_s
        if idle or datetime.now(UTC) >= session.expire_time:
            logger.info("session %s expired (%s)", session_id, "idle" if idle else "token ttl")
            self._close(session, SessionState.EXPIRED)

    def _close(self, session: Session, state: SessionState) -> None:
        session.state = state
        session.ended_monotonic = time.monotonic()
        session.closed.set()
