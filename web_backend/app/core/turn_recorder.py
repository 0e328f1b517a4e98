"""Persists the turns of live sessions as they complete (gateway WatchSessionTurns).

One watcher task per live session, owned here; a watcher resumes after the last stored turn,
so a restarted backend picks up where it stopped and a turn is never stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from web_backend.app import crud
from web_backend.app.core.gateway import GatewayClient, GatewayError, TurnResult

logger = logging.getLogger(__name__)

# Codes after which the watch is tried again: the gateway restarted or is briefly away.
_RETRY_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "INTERNAL", "UNKNOWN"}


def turn_fields(turn: TurnResult, *, turn_index: int | None = None) -> dict[str, object]:
    """The Turn row fields for a finished turn."""
    return {
        "turn_index": turn.turn_index if turn_index is None else turn_index,
        "gateway_turn_id": turn.turn_id,
        "user_text": turn.user_text,
        "assistant_text": turn.assistant_text,
        "interrupted": turn.interrupted,
        "failed": turn.failed,
        "outcome": turn.outcome,
        "failure_code": turn.failure_code,
        "failure_stage": turn.failure_stage,
        "failure_message": turn.failure_message,
        "timings_us": dict(turn.timings_us),
        "started_at": turn.start_time,
    }


class SessionTurnRecorder:
    """Watches live sessions and stores their turns.

    Args:
        sessions: database session factory.
        gateway: the gateway client.
        max_retries: attempts to re-open a broken watch before giving up on a session.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: GatewayClient,
        *,
        max_retries: int = 5,
        retry_delay_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._max_retries = max_retries
        self._retry_delay_s = retry_delay_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, session_id: str, gateway_session_id: str) -> None:
        """Starts watching a session (no-op when already watched)."""
        if session_id in self._tasks:
            return
        task = asyncio.create_task(
            self._watch(session_id, gateway_session_id), name=f"turns-{session_id}"
        )
        self._tasks[session_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(session_id, None))

    def resume_all(self) -> int:
        """Watches every live session the database says is still active; returns how many."""
        with self._sessions() as db:
            live = [(s.id, s.gateway_session_id) for s in crud.list_live_sessions(db=db)]
        for session_id, gateway_session_id in live:
            self.watch(session_id, gateway_session_id)
        return len(live)

    async def stop(self) -> None:
        """Cancels every watcher."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, session_id: str, gateway_session_id: str) -> None:
        failures = 0
        while True:
            start = await asyncio.to_thread(self._next_index, session_id)
            try:
                async for turn in self._gateway.watch_session_turns(
                    gateway_session_id, from_turn_index=start
                ):
                    failures = 0
                    await asyncio.to_thread(self._store, session_id, turn)
            except GatewayError as error:
                if error.code in _RETRY_CODES and failures < self._max_retries:
                    failures += 1
                    await asyncio.sleep(self._retry_delay_s * failures)
                    continue
                logger.info("session %s: turn watch ended (%s)", session_id, error.code)
            except Exception:
                logger.exception("session %s: storing turns failed", session_id)
                return
            # The stream ended: the session ended or expired in the gateway.
            await asyncio.to_thread(self._mark_ended, session_id)
            return

    def _next_index(self, session_id: str) -> int:
        with self._sessions() as db:
            return crud.next_turn_index(db=db, session_id=session_id)

    def _store(self, session_id: str, turn: TurnResult) -> None:
        with self._sessions() as db:
            crud.save_turn(db=db, session_id=session_id, fields=turn_fields(turn))

    def _mark_ended(self, session_id: str) -> None:
        with self._sessions() as db:
            session = db.get(crud.models.TutorSession, session_id)
            if session is not None:
                crud.end_session(db=db, session=session, when=datetime.now(UTC))
