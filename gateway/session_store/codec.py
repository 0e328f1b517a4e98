"""Turn records and session rows as JSON text, the form both stores keep them in."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.session_store.base import LIVE_STATES, StoredSession
from gateway.turn_records import TurnFailure, TurnOutcome, TurnRecord, TurnTimings
from gateway.upstream.llm_client import Citation


def turn_to_json(record: TurnRecord) -> str:
    """A turn record as JSON text."""
    failure = record.failure
    return json.dumps(
        {
            "turn_id": record.turn_id,
            "turn_index": record.turn_index,
            "user_text": record.user_text,
            "assistant_text": record.assistant_text,
            "outcome": record.outcome.value,
            "timings": vars(record.timings),
            "start_time": record.start_time.isoformat(),
            "citations": [vars(c) for c in record.citations],
            "llm_time_to_first_token_ms": record.llm_time_to_first_token_ms,
            "upstream_outcomes": record.upstream_outcomes,
            "failure": vars(failure) if failure else None,
            "speculative": record.speculative,
        },
        separators=(",", ":"),
    )


def turn_from_json(text: str | bytes) -> TurnRecord:
    """The turn record ``turn_to_json`` wrote."""
    data = json.loads(text)
    failure = data.get("failure")
    return TurnRecord(
        turn_id=data["turn_id"],
        turn_index=int(data["turn_index"]),
        user_text=data["user_text"],
        assistant_text=data["assistant_text"],
        outcome=TurnOutcome(data["outcome"]),
        timings=TurnTimings(**data["timings"]),
        start_time=datetime.fromisoformat(data["start_time"]),
        citations=tuple(Citation(**c) for c in data.get("citations", ())),
        llm_time_to_first_token_ms=int(data.get("llm_time_to_first_token_ms", 0)),
        upstream_outcomes=dict(data.get("upstream_outcomes", {})),
        failure=TurnFailure(**failure) if failure else None,
        speculative=bool(data.get("speculative", False)),
    )


def time_text(value: datetime | None) -> str:
    """An aware datetime as ISO text ("" for None)."""
    return value.isoformat() if value is not None else ""


def time_value(text: str | bytes | None) -> datetime | None:
    """The datetime ``time_text`` wrote (None for "")."""
    if isinstance(text, bytes):
        text = text.decode()
    return datetime.fromisoformat(text) if text else None


def tutor_json(tutor: dict[str, Any]) -> str:
    """A tutor profile's fields as JSON text."""
    return json.dumps(tutor, separators=(",", ":"))


def housekeeping_session(
    session_id: str,
    tenant_id: str,
    state: str,
    created: str | bytes | None,
    expires: str | bytes | None,
    active: str | bytes | None,
    owner: str,
    gone: str | bytes | None,
) -> StoredSession | None:
    """A live session with only the fields housekeeping reads (no tutor, no token digest);
    None when it is not live or its times cannot be read."""
    create_time, expire_time = time_value(created), time_value(expires)
    if state not in LIVE_STATES or create_time is None or expire_time is None:
        return None
    return StoredSession(
        session_id=session_id,
        tenant_id=tenant_id,
        student_id="",
        tutor={},
        engine_url="",
        create_time=create_time,
        expire_time=expire_time,
        token_digest=b"",
        state=state,
        last_activity_time=time_value(active),
        owner=owner,
        disconnect_time=time_value(gone),
    )
