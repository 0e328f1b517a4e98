"""The data channel's JSON messages: the page's inputs and the conversation's events.

To the page: ``transcript`` (text, final, turn_id), ``assistant_text`` (turn_id, delta),
``turn`` (event: started/interrupted/completed/failed, turn_id), ``speech`` (event:
started/ended), ``playback`` (state: speaking/listening), ``error`` (code, message, stage).
From the page: ``{"type": "text", "text": ...}`` and ``{"type": "interrupt"}``; a bare
string is a text message too.
"""

from __future__ import annotations

import json
from typing import Any

from vtutor.asr.v1 import asr_pb2
from vtutor.gateway.v1 import gateway_pb2

MAX_TEXT_CHARS = 4000  # the gateway's limit for a TextInput

_TURN_EVENTS = {
    gateway_pb2.TURN_EVENT_TYPE_STARTED: "started",
    gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_EVENT_TYPE_COMPLETED: "completed",
    gateway_pb2.TURN_EVENT_TYPE_FAILED: "failed",
}


def _speech_event_name(event: Any) -> str:
    name = asr_pb2.SpeechEventType.Name(event.type) if event.type else "UNSPECIFIED"
    return name.removeprefix("SPEECH_EVENT_TYPE_").removeprefix("SPEECH_").lower()


def converse_event(response: gateway_pb2.ConverseResponse) -> dict[str, Any] | None:
    """The page's message for a Converse response; None for media and `ready`."""
    kind = response.WhichOneof("response")
    if kind == "transcript":
        t = response.transcript
        return {"type": "transcript", "text": t.text, "final": t.is_final, "turn_id": t.turn_id}
    if kind == "assistant_text":
        a = response.assistant_text
        return {"type": "assistant_text", "turn_id": a.turn_id, "delta": a.delta}
    if kind == "turn_event":
        e = response.turn_event
        return {"type": "turn", "event": _TURN_EVENTS.get(e.type, "unknown"), "turn_id": e.turn_id}
    if kind == "speech_event":
        return {"type": "speech", "event": _speech_event_name(response.speech_event)}
    if kind == "error":
        e = response.error
        return {"type": "error", "code": e.code, "message": e.message, "stage": e.stage}
    return None


def client_message(raw: str | bytes) -> tuple[str, str] | None:
    """("text", text) or ("interrupt", "") from a page message; None if it is unreadable."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {"type": "text", "text": raw}
    if isinstance(parsed, str):
        parsed = {"type": "text", "text": parsed}
    if not isinstance(parsed, dict):
        return None
    if parsed.get("type") == "interrupt":
        return ("interrupt", "")
    if parsed.get("type") == "text":
        text = parsed.get("text")
        if isinstance(text, str) and text.strip():
            return ("text", text.strip()[:MAX_TEXT_CHARS])
    return None
