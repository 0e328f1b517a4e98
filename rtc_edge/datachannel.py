"""The data channel's JSON messages: the page's inputs and the conversation's events.

To the page: ``transcript`` (text, final, turn_id), ``assistant_text`` (turn_id, delta),
``turn`` (event: started/interrupted/completed/failed, turn_id; once it ended, ``stage_ms``:
the gateway's stage times from the end of speech), ``speech`` (event:
started/ended), ``playback`` (state: speaking/listening), ``error`` (code, message, stage).
From the page: ``{"type": "text", "text": ...}`` and ``{"type": "interrupt"}``; a bare
string is a text message too.
"""

from __future__ import annotations

import json
from typing import Any

from rtc_edge.converse_events import (
    AssistantText,
    ConversationError,
    ConverseEvent,
    SpeechEvent,
    Transcript,
    TurnEvent,
)

MAX_TEXT_CHARS = 4000  # the gateway's limit for a TextInput


def page_message(event: ConverseEvent) -> dict[str, Any] | None:
    """The page's message for a conversation event; None for media."""
    if isinstance(event, Transcript):
        return {
            "type": "transcript",
            "text": event.text,
            "final": event.final,
            "turn_id": event.turn_id,
        }
    if isinstance(event, AssistantText):
        return {"type": "assistant_text", "turn_id": event.turn_id, "delta": event.delta}
    if isinstance(event, TurnEvent):
        message: dict[str, Any] = {"type": "turn", "event": event.kind, "turn_id": event.turn_id}
        if event.stage_ms and event.kind != "started":
            message["stage_ms"] = event.stage_ms
        return message
    if isinstance(event, SpeechEvent):
        return {"type": "speech", "event": event.name}
    if isinstance(event, ConversationError):
        return {"type": "error", "code": event.code, "message": event.message, "stage": event.stage}
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
