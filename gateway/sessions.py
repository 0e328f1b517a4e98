"""Tutor sessions: creation with an engine token, lookup, expiry, idle timeout, turn history.

The registry keeps the sessions this gateway is working with in memory (the hot path: history
for the next turn, activity on every audio chunk) in front of a session store
(``gateway.session_store``), which is the truth across restarts and replicas: a session is
written when it is created, each turn as it completes, and its state as it changes. A client
that reconnects with its token to a restarted or another gateway finds its session, history
included. A registry without a store keeps everything in memory (unit tests, benchmarks).

What "connected" means across replicas: the store names the gateway instance serving a
session's Converse stream. Another instance takes the session over only when that one is no
longer alive (its heartbeat lapsed) or is itself from before a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.session_store.base import LIVE_STATES, SessionStore, StoredSession
from gateway.turn_records import TurnOutcome, TurnRecord
from gateway.upstream.llm_client import ChatMessage
from svc_core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

logger = logging.getLogger(__name__)

MAX_TTL_S = 86400
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50

# One answer for an unknown session and a wrong token, so neither tells the other apart.
BAD_TOKEN = "the engine token is not valid for this session"


class SessionState(enum.Enum):
    """Life of a session."""

    READY = "ready"
    CONNECTED = "connected"
    ENDED = "ended"
    EXPIRED = "expired"


class EndReason(enum.Enum):
    """Why a session stopped being live."""

    ENDED = "ended"  # EndSession
    LEFT = "left"  # its stream closed and no client came back within the grace
    IDLE = "idle"  # no activity for the idle timeout
    EXPIRED = "expired"  # its token's lifetime ran out


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

    def to_fields(self) -> dict[str, Any]:
        """Plain JSON values (what the store keeps)."""
        return {**dataclasses.asdict(self), "phrase_hints": list(self.phrase_hints)}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> TutorProfile:
        """The profile ``to_fields`` gave (unknown keys from a newer gateway are left out)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in fields.items() if k in known}
        values["phrase_hints"] = tuple(values.get("phrase_hints", ()))
        return cls(**values)


def _token_digest(token: str) -> bytes:
    # Only a digest is kept, so a memory dump, the store or a log never shows a token.
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
    end_reason: str = ""
    # When its Converse stream last closed (monotonic; 0 while connected or never).
    disconnected_monotonic: float = 0.0
    # Turns the store holds when this copy was read without them (GetSession, ListSessions).
    stored_turn_count: int = 0
    # Activity already written to the store (monotonic), so the sweeper writes only news.
    activity_saved_monotonic: float = 0.0

    @property
    def live(self) -> bool:
        """True until the session ends or expires."""
        return self.state in (SessionState.READY, SessionState.CONNECTED)

    @property
    def turn_count(self) -> int:
        """Finished turns so far."""
        return max(len(self.turns), self.stored_turn_count)

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

    def stored(self, owner: str = "") -> StoredSession:
        """The store's row for this session."""
        return StoredSession(
            session_id=self.session_id,
            tenant_id=self.tenant_id,
            student_id=self.student_id,
            tutor=self.tutor.to_fields(),
            engine_url=self.engine_url,
            create_time=self.create_time,
            expire_time=self.expire_time,
            token_digest=self.token_digest,
            state=self.state.value,
            last_activity_time=self.last_activity_time,
            owner=owner,
            end_reason=self.end_reason,
        )

    @classmethod
    def from_stored(cls, row: StoredSession, turns: list[TurnRecord] | None = None) -> Session:
        """A session read back from the store (with its turns when given)."""
        session = cls(
            session_id=row.session_id,
            tenant_id=row.tenant_id,
            student_id=row.student_id,
            tutor=TutorProfile.from_fields(row.tutor),
            engine_url=row.engine_url,
            create_time=row.create_time,
            expire_time=row.expire_time,
            token_digest=row.token_digest,
            turns=list(turns or []),
        )
        session.refresh(row)
        session.activity_saved_monotonic = session.last_activity_monotonic
        return session

    def refresh(self, row: StoredSession) -> None:
        """Takes state and activity from the store's row (a copy not serving a stream here)."""
        self.state = SessionState(row.state)
        self.end_reason = row.end_reason
        self.stored_turn_count = row.turn_count
        stored_activity = row.last_activity_time or row.create_time
        if stored_activity > self.last_activity_time:
            ago = (datetime.now(UTC) - stored_activity).total_seconds()
            self.last_activity_time = stored_activity
            self.last_activity_monotonic = time.monotonic() - max(ago, 0.0)
        if not self.live and not self.closed.is_set():
            self.ended_monotonic = time.monotonic()
            self.closed.set()


class SessionRegistry:
    """The sessions of this gateway instance, in memory, in front of an optional store.

    Args:
        max_sessions: Live sessions this instance holds at once (RESOURCE_EXHAUSTED past it).
        idle_timeout_s: A session without activity this long expires.
        default_ttl_s: Lifetime of an engine token when a request gives none.
        ended_retention_s: How long ended and expired sessions stay readable.
        store: Where sessions outlive this process (None: memory only).
        instance_id: This gateway's name in the store (stable across its restarts).
        disconnect_grace_s: A session whose stream closed ends when no client reconnects
            within this long (None: it stays ready until the idle timeout).
        instance_ttl_s: How long this instance counts as alive after each heartbeat.
    """

    def __init__(
        self,
        *,
        max_sessions: int,
        idle_timeout_s: float,
        default_ttl_s: int,
        ended_retention_s: float,
        store: SessionStore | None = None,
        instance_id: str = "",
        disconnect_grace_s: float | None = None,
        instance_ttl_s: float = 10.0,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.default_ttl_s = default_ttl_s
        self.ended_retention_s = ended_retention_s
        self.store = store
        self.instance_id = instance_id or uuid.uuid4().hex
        self.disconnect_grace_s = disconnect_grace_s
        self.instance_ttl_s = instance_ttl_s
        self._sessions: dict[str, Session] = {}
        # Sessions whose Converse stream is open in this process.
        self._streams: set[str] = set()
        self._writes: set[asyncio.Task[Any]] = set()
        # Sessions in memory whose row the store has not taken yet (create_session waiting).
        self._unwritten: set[str] = set()

    # Creation -------------------------------------------------------------------------------

    def create(
        self,
        *,
        tenant_id: str,
        student_id: str,
        tutor: TutorProfile,
        engine_url: str,
        ttl_s: int = 0,
    ) -> tuple[Session, str]:
        """Creates a session in memory; returns it with its engine token (shown only here).

        With a store, ``create_session`` is the call that also waits for it to be written.

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

    async def create_session(
        self,
        *,
        tenant_id: str,
        student_id: str,
        tutor: TutorProfile,
        engine_url: str,
        ttl_s: int = 0,
    ) -> tuple[Session, str]:
        """Creates a session and writes it to the store before its token is handed out.

        Raises:
            InvalidArgument: A required field is missing or the TTL is out of range.
            ResourceExhausted: The gateway holds its maximum of live sessions.
        """
        session, token = self.create(
            tenant_id=tenant_id,
            student_id=student_id,
            tutor=tutor,
            engine_url=engine_url,
            ttl_s=ttl_s,
        )
        if self.store is not None:
            self._unwritten.add(session.session_id)
            try:
                await self.store.create(session.stored())
            except BaseException:
                del self._sessions[session.session_id]
                raise
            finally:
                self._unwritten.discard(session.session_id)
            session.activity_saved_monotonic = session.last_activity_monotonic
        return session, token

    @property
    def live_count(self) -> int:
        """Sessions this instance holds that have not ended or expired."""
        return sum(1 for s in self._sessions.values() if s.live)

    # Lookup ---------------------------------------------------------------------------------

    def get(self, session_id: str) -> Session:
        """The session with this id among those this instance holds (ended ones too, a while).

        Raises:
            NotFound: No such session here.
        """
        self._expire_if_due(session_id)
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}")
        return session

    async def fetch(self, session_id: str) -> Session:
        """The session as the store has it now (GetSession); its turns are counted, not read.

        Raises:
            NotFound: No such session.
        """
        if self.store is None or session_id in self._streams:
            return self.get(session_id)
        row = await self.store.load(session_id)
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        cached = self._sessions.get(session_id)
        if cached is not None:
            cached.refresh(row)
            return cached
        return Session.from_stored(row)

    async def resume(self, session_id: str) -> Session:
        """The session with its history, read from the store unless it is streaming here.

        Raises:
            NotFound: No such session.
        """
        if self.store is None or session_id in self._streams:
            return self.get(session_id)
        row = await self.store.load(session_id)
        if row is None:
            self._sessions.pop(session_id, None)
            raise NotFound(f"no session {session_id!r}")
        cached = self._sessions.get(session_id)
        if cached is not None and len(cached.turns) == row.turn_count:
            cached.refresh(row)
            return cached
        turns = await self.store.turns(session_id)
        if cached is not None:
            cached.turns = turns
            cached.refresh(row)
            return cached
        session = Session.from_stored(row, turns)
        self._sessions[session_id] = session
        return session

    async def list(
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
        if offset < 0:
            raise InvalidArgument("page_token is not one this gateway issued")
        size = page_size or DEFAULT_PAGE_SIZE
        if self.store is not None:
            rows, more = await self.store.list_tenant(tenant_id, offset, size)
            page = []
            for row in rows:
                cached = self._sessions.get(row.session_id)
                if cached is not None and row.session_id in self._streams:
                    page.append(cached)
                else:
                    page.append(Session.from_stored(row))
            return page, str(offset + size) if more else ""
        self.sweep()
        mine = sorted(
            (s for s in self._sessions.values() if s.tenant_id == tenant_id),
            key=lambda s: s.create_time,
            reverse=True,
        )
        page = mine[offset : offset + size]
        more = offset + size < len(mine)
        return page, str(offset + size) if more else ""

    # Ending ---------------------------------------------------------------------------------

    def end(self, session_id: str) -> Session:
        """Ends a session held here: its token stops working and its Converse stream closes."""
        session = self.get(session_id)
        if session.live:
            self._close(session, SessionState.ENDED, EndReason.ENDED)
        return session

    async def end_session(self, session_id: str) -> Session:
        """Ends a session wherever it is served (EndSession).

        Raises:
            NotFound: No such session.
        """
        if self.store is None:
            return self.end(session_id)
        session = await self.resume(session_id)
        if session.live:
            self._close(session, SessionState.ENDED, EndReason.ENDED, write=False)
            await self._write_end(session, expect_owner=None)
        return session

    # Tokens and streams ---------------------------------------------------------------------

    def check_token(self, session_id: str, token: str) -> Session:
        """The live session held here that ``token`` is the engine token of.

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
        """
        self._expire_if_due(session_id)
        return self._verify(self._sessions.get(session_id), token)

    async def authenticate(self, session_id: str, token: str) -> Session:
        """The live session ``token`` is the engine token of, wherever it was created
        (CheckEngineToken).

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
        """
        try:
            session: Session | None = await self.fetch(session_id)
        except NotFound:
            session = None
        if session is not None and session.live and datetime.now(UTC) >= session.expire_time:
            self._close(session, SessionState.EXPIRED, EndReason.EXPIRED)
        return self._verify(session, token)

    def authorize_converse(self, session_id: str, token: str) -> Session:
        """The session held here that a Converse stream may open with ``token``.

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
            FailedPrecondition: The session already has a Converse stream.
        """
        session = self.check_token(session_id, token)
        if session.state is SessionState.CONNECTED:
            raise FailedPrecondition("the session already has a Converse stream")
        return session

    async def open_stream(self, session_id: str, token: str) -> Session:
        """Authorizes a Converse stream with ``token`` and marks the session connected here.

        A session whose stream was served by a gateway that is gone (restarted, or its
        heartbeat lapsed) is taken over, with its history.

        Raises:
            Unauthenticated: Unknown session, wrong token, or a session that ended or expired.
            FailedPrecondition: The session already has a Converse stream on this gateway.
            Unavailable: Another live gateway serves its stream (try again shortly).
        """
        if self.store is None:
            session = self.authorize_converse(session_id, token)
            self.connect(session)
            return session
        try:
            found: Session | None = await self.resume(session_id)
        except NotFound:
            found = None
        self._expire_if_due(session_id)
        session = self._verify(found, token)
        if session_id in self._streams:
            raise FailedPrecondition("the session already has a Converse stream")
        row = await self.store.load(session_id)
        if row is None or not row.live:
            raise Unauthenticated(BAD_TOKEN)
        if row.state == SessionState.CONNECTED.value and row.owner != self.instance_id:
            if row.owner and await self.store.alive(row.owner):
                raise Unavailable(
                    "the session's stream is open on another gateway; try again shortly"
                )
            logger.info("session %s taken over from gateway %s", session_id, row.owner)
        # Held as streaming here from before the claim is written, so neither a second stream
        # nor this instance's sweeper (which frees streams nobody serves) slips in between.
        if session_id in self._streams:
            raise FailedPrecondition("the session already has a Converse stream")
        self._streams.add(session_id)
        try:
            claimed = await self.store.update(
                session_id,
                {
                    "state": SessionState.CONNECTED.value,
                    "owner": self.instance_id,
                    "disconnect_time": None,
                    "last_activity_time": datetime.now(UTC),
                },
                expect_state=frozenset({row.state}),
                expect_owner=row.owner,
            )
        except BaseException:
            self._streams.discard(session_id)
            raise
        if not claimed:
            self._streams.discard(session_id)
            raise Unavailable("the session changed hands just now; try again")
        self.connect(session)
        session.activity_saved_monotonic = session.last_activity_monotonic
        return session

    def connect(self, session: Session) -> None:
        """Marks a session as having its Converse stream here."""
        self._sessions.setdefault(session.session_id, session)
        self._streams.add(session.session_id)
        session.state = SessionState.CONNECTED
        session.disconnected_monotonic = 0.0
        session.touch()

    def disconnect(self, session: Session) -> None:
        """Marks a session's Converse stream as closed (the session stays usable a while)."""
        self._streams.discard(session.session_id)
        if session.state is SessionState.CONNECTED:
            session.state = SessionState.READY
            session.disconnected_monotonic = time.monotonic()
            session.touch()
            self._write(self._write_disconnect(session, datetime.now(UTC)))

    # Turns ----------------------------------------------------------------------------------

    async def add_turn(self, session: Session, record: TurnRecord) -> None:
        """Appends a finished turn (to the store too) and wakes WatchSessionTurns streams."""
        record.turn_index = len(session.turns)
        session.turns.append(record)
        session.touch()
        if self.store is not None:
            try:
                await self.store.append_turn(session.session_id, record)
            except Exception:
                logger.exception(
                    "session %s: turn %d not stored", session.session_id, record.turn_index
                )
        async with session.turn_added:
            session.turn_added.notify_all()

    async def watch_turns(self, session: Session, from_index: int) -> AsyncIterator[TurnRecord]:
        """The session's turns from ``from_index`` on, then new ones; ends with the session.

        A session streaming on another gateway is followed through the store.
        """
        index = max(from_index, 0)
        while True:
            if self.store is not None and session.session_id not in self._streams:
                row = await self.store.load(session.session_id)
                for record in await self.store.turns(session.session_id, index):
                    yield record
                    index = record.turn_index + 1
                if row is None or not row.live:
                    return
            else:
                while index < len(session.turns):
                    yield session.turns[index]
                    index += 1
                if not session.live:
                    return
            async with session.turn_added:
                with contextlib.suppress(TimeoutError):
                    # Wake at least each second to notice the session ending.
                    # (asyncio.timeout, not wait_for: see upstream.channels.ResponseStream.)
                    async with asyncio.timeout(1.0):
                        await session.turn_added.wait()

    # Expiry ---------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Expires sessions held here that are due; forgets old ended ones."""
        now = time.monotonic()
        for session_id in list(self._sessions):
            self._expire_if_due(session_id, now)
            session = self._sessions[session_id]
            if not session.live and now - session.ended_monotonic > self.ended_retention_s:
                del self._sessions[session_id]

    async def sweep_store(self) -> None:
        """One round of the store's housekeeping, shared by every instance using it.

        Says this instance is alive, writes the activity of its sessions, ends what is due
        (token lifetime, idle timeout, a stream gone without a reconnect in the grace, a stream
        whose gateway died), closes the local copies of sessions that ended elsewhere, and
        forgets sessions ended longer ago than the retention.
        """
        store = self.store
        if store is None:
            return
        await store.heartbeat(self.instance_id, self.instance_ttl_s)
        for session in list(self._sessions.values()):
            if session.live and session.last_activity_monotonic > session.activity_saved_monotonic:
                session.activity_saved_monotonic = session.last_activity_monotonic
                await store.update(
                    session.session_id,
                    {"last_activity_time": session.last_activity_time},
                    expect_state=LIVE_STATES,
                )
        now = datetime.now(UTC)
        alive: dict[str, bool] = {self.instance_id: True}
        still_live: dict[str, StoredSession] = {}
        # Only sessions the store holds before it is read are judged by what it says: one
        # created meanwhile is missing from the rows, not ended.
        written = [
            (session_id, session)
            for session_id, session in self._sessions.items()
            if session_id not in self._unwritten
        ]
        for row in await store.live_sessions():
            if not await self._settle(row, now, alive):
                still_live[row.session_id] = row
        for session_id, session in written:
            if not session.live:
                continue
            current = still_live.get(session_id)
            if current is None:
                final = await store.load(session_id)
                if final is None:
                    self._close(session, SessionState.ENDED, EndReason.ENDED, write=False)
                else:
                    session.refresh(final)  # closes it when the row has ended
            elif session_id not in self._streams and current.owner not in ("", self.instance_id):
                # Served by another gateway now: its copy here would only go stale.
                del self._sessions[session_id]
        await store.purge_ended(now - timedelta(seconds=self.ended_retention_s))

    async def _settle(self, row: StoredSession, now: datetime, alive: dict[str, bool]) -> bool:
        """Ends or frees one live session of the store when due; True when it ended."""
        assert self.store is not None
        idle_since = row.last_activity_time or row.create_time
        served_here = row.session_id in self._streams
        reason: EndReason | None = None
        if now >= row.expire_time:
            reason = EndReason.EXPIRED
        elif (now - idle_since).total_seconds() > self.idle_timeout_s:
            reason = EndReason.IDLE
        elif row.state == SessionState.CONNECTED.value and not served_here:
            owner = row.owner
            if owner not in alive:
                alive[owner] = bool(owner) and await self.store.alive(owner)
            if owner == self.instance_id or not alive[owner]:
                # Its gateway died mid-stream: the stream is gone, the grace starts now.
                await self.store.update(
                    row.session_id,
                    {"state": SessionState.READY.value, "owner": "", "disconnect_time": now},
                    expect_state=frozenset({SessionState.CONNECTED.value}),
                    expect_owner=owner,
                )
            return False
        elif (
            row.state == SessionState.READY.value
            and row.disconnect_time is not None
            and self.disconnect_grace_s is not None
            and (now - row.disconnect_time).total_seconds() >= self.disconnect_grace_s
        ):
            reason = EndReason.LEFT
        if reason is None:
            return False
        state = SessionState.ENDED if reason is EndReason.LEFT else SessionState.EXPIRED
        ended = await self.store.update(
            row.session_id,
            {"state": state.value, "owner": "", "end_time": now, "end_reason": reason.value},
            expect_state=frozenset({row.state}),
            expect_owner=row.owner,
        )
        if ended:
            logger.info("session %s %s (%s)", row.session_id, state.value, reason.value)
        return ended

    async def run_sweeper(self, interval_s: float) -> None:
        """Sweeps forever, every ``interval_s`` (cancel to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            self.sweep()
            try:
                await self.sweep_store()
            except Exception:
                # A store briefly away must not stop the sweeping; the next round retries.
                logger.warning("session store sweep failed", exc_info=True)

    async def close(self) -> None:
        """Waits for pending writes, says this instance is gone, closes the store."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self.store is not None:
            with contextlib.suppress(Exception):
                # Another replica may take this instance's streams over at once.
                await self.store.heartbeat(self.instance_id, 0.001)
            await self.store.close()

    # Internals ------------------------------------------------------------------------------

    def _verify(self, session: Session | None, token: str) -> Session:
        # Compare against a digest even for an unknown id so timing does not tell the two apart.
        digest = session.token_digest if session else bytes(32)
        token_ok = hmac.compare_digest(_token_digest(token), digest)
        if session is None or not token_ok:
            raise Unauthenticated(BAD_TOKEN)
        if session.state is SessionState.EXPIRED:
            raise Unauthenticated("the session has expired")
        if session.state is SessionState.ENDED:
            raise Unauthenticated("the session has ended")
        return session

    def _expire_if_due(self, session_id: str, now: float | None = None) -> None:
        session = self._sessions.get(session_id)
        if session is None or not session.live:
            return
        now = time.monotonic() if now is None else now
        if datetime.now(UTC) >= session.expire_time:
            self._close(session, SessionState.EXPIRED, EndReason.EXPIRED)
        elif self.store is not None:
            # Idle and grace are decided on the store's activity (another replica may be
            # serving the session), by sweep_store.
            return
        elif now - session.last_activity_monotonic > self.idle_timeout_s:
            self._close(session, SessionState.EXPIRED, EndReason.IDLE)
        elif (
            self.disconnect_grace_s is not None
            and session.state is SessionState.READY
            and session.disconnected_monotonic
            and now - session.disconnected_monotonic >= self.disconnect_grace_s
        ):
            self._close(session, SessionState.ENDED, EndReason.LEFT)

    def _close(
        self, session: Session, state: SessionState, reason: EndReason, *, write: bool = True
    ) -> None:
        logger.info("session %s %s (%s)", session.session_id, state.value, reason.value)
        session.state = state
        session.end_reason = reason.value
        session.ended_monotonic = time.monotonic()
        session.closed.set()
        if write:
            self._write(self._write_end(session, expect_owner=None))

    async def _write_end(self, session: Session, *, expect_owner: str | None) -> None:
        await self._store_update(
            session,
            {
                "state": session.state.value,
                "owner": "",
                "end_time": datetime.now(UTC),
                "end_reason": session.end_reason,
            },
            expect_state=LIVE_STATES,
            expect_owner=expect_owner,
        )

    async def _write_disconnect(self, session: Session, when: datetime) -> None:
        if session.session_id in self._streams:
            return  # the client is back already: its new stream holds the session
        await self._store_update(
            session,
            {
                "state": SessionState.READY.value,
                "owner": "",
                "disconnect_time": when,
                "last_activity_time": session.last_activity_time,
            },
            expect_state=frozenset({SessionState.CONNECTED.value}),
            expect_owner=self.instance_id,
        )

    async def _store_update(
        self,
        session: Session,
        changes: dict[str, Any],
        *,
        expect_state: frozenset[str] | None,
        expect_owner: str | None,
    ) -> None:
        if self.store is not None:
            await self.store.update(
                session.session_id, changes, expect_state=expect_state, expect_owner=expect_owner
            )

    def _write(self, write: Coroutine[Any, Any, None]) -> None:
        """Runs a store write from synchronous code; ``close`` waits for it."""
        if self.store is None:
            write.close()
            return
        task = asyncio.get_running_loop().create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("session store write failed: %s", task.exception())
