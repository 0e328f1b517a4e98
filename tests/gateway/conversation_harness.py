"""A Conversation over in-memory fake upstreams, driven like a client drives Converse."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from gateway.config import GatewaySettings
from gateway.conversation import Conversation
from gateway.converse_inputs import (
    AudioIn,
    ClientInput,
    ConverseOptions,
    IdlePositionIn,
    InterruptIn,
    TextIn,
)
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ConverseEvent,
    FrameOut,
    TranscriptOut,
    TurnEventKind,
    TurnEventOut,
)
from gateway.sessions import Session, SessionRegistry, TutorProfile
from gateway.turn_records import TurnRecord
from gateway.upstream.asr_client import RecognizedText, SpeechActivity
from tests.gateway.fake_upstreams import FakeUpstreams

CHUNK_MS = 20


def unit_settings(**overrides: Any) -> GatewaySettings:
    """Gateway settings for logic tests: short guards, media as fast as it comes."""
    values: dict[str, Any] = {
        "api_key": "unit",
        "media_lead_ms": 0,
        "false_start_guard_ms": 100,
        "speculation_stable_ms": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def options(*, video: bool = False, audio: bool = True, interim: bool = False) -> ConverseOptions:
    """A client's config: text and audio (or video) out at 16 kHz."""
    return ConverseOptions(
        input_sample_rate_hz=16000,
        output_sample_rate_hz=16000,
        send_text=True,
        send_audio=audio and not video,
        send_video=video,
        interim_transcripts=interim,
        fps=25,
    )


def spoken(text: str, *, start_ms: int = 0, end_ms: int = 600, index: int = 0) -> list[Any]:
    """What ASR reports for an utterance: started, ended, the final transcript."""
    return [
        SpeechActivity(True, start_ms, index),
        SpeechActivity(False, end_ms, index),
        RecognizedText(text, True, start_ms, end_ms, index),
    ]


class LiveConversation:
    """A Conversation of a fresh session; every event it sends is kept in ``events``."""

    def __init__(
        self,
        fakes: FakeUpstreams,
        settings: GatewaySettings | None = None,
        stream_options: ConverseOptions | None = None,
    ) -> None:
        self.fakes = fakes
        self.settings = settings or unit_settings()
        self.registry = SessionRegistry(
            max_sessions=10, idle_timeout_s=60, default_ttl_s=600, ended_retention_s=60
        )
        self.session: Session
        self.session, _ = self.registry.create(
            tenant_id="t",
            student_id="s",
            tutor=TutorProfile(system_prompt="Teach.", avatar_id="a"),
            engine_url="x",
        )
        self.registry.connect(self.session)
        self.conversation = Conversation(
            self.session,
            stream_options or options(),
            clients=fakes.clients,
            registry=self.registry,
            settings=self.settings,
        )
        self.events: list[ConverseEvent] = []
        self.times: list[float] = []
        self._inputs: asyncio.Queue[ClientInput | None] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def __aenter__(self) -> LiveConversation:
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Half-closes and waits for the stream to end."""
        await self._inputs.put(None)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)

    async def _read(self) -> None:
        async def inputs() -> AsyncIterator[ClientInput]:
            while (item := await self._inputs.get()) is not None:
                yield item

        try:
            async for event in self.conversation.events(inputs()):
                self.events.append(event)
                self.times.append(time.monotonic())
                self._changed.set()
        except Exception as exc:
            self.error = exc
        self._changed.set()

    # Client inputs ----------------------------------------------------------------------------

    async def audio(self, ms: int, *, loud: bool = False) -> None:
        """Sends ``ms`` of student audio: silence, or a loud tone (speech, as loudness goes)."""
        samples = 16 * CHUNK_MS
        if loud:
            tone = (np.sin(np.arange(samples) * 2 * np.pi * 200 / 16000) * 8000).astype("<i2")
            chunk = tone.tobytes()
        else:
            chunk = bytes(samples * 2)
        for _ in range(ms // CHUNK_MS):
            await self._inputs.put(AudioIn(chunk))
        await asyncio.sleep(0.005)

    async def text(self, text: str) -> None:
        await self._inputs.put(TextIn(text))

    async def interrupt(self) -> None:
        await self._inputs.put(InterruptIn())

    async def idle_position(self, index: int) -> None:
        await self._inputs.put(IdlePositionIn(index))

    # What came back ---------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[ConverseEvent], bool], *, timeout_s: float = 3.0
    ) -> ConverseEvent:
        """The first event so far or later that matches."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._reader is not None and self._reader.done()):
                names = [type(e).__name__ for e in self.events]
                raise AssertionError(f"no such event; got {names}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def ended(self, nth: int = 1, *, timeout_s: float = 3.0) -> TurnRecord:
        """The record of the ``nth`` turn to end (waiting for it)."""

        def ends() -> list[TurnEventOut]:
            return [e for e in self.turn_events() if e.kind is not TurnEventKind.STARTED]

        await self.wait_for(lambda _: len(ends()) >= nth, timeout_s=timeout_s)
        record = ends()[nth - 1].record
        assert record is not None
        return record

    def of_turn(self, turn_id: str) -> list[ConverseEvent]:
        """Captions and media of one turn, in order."""
        return [
            e
            for e in self.events
            if isinstance(e, AssistantTextOut | AudioOut | FrameOut) and e.turn_id == turn_id
        ]

    def turn_events(self) -> list[TurnEventOut]:
        return [e for e in self.events if isinstance(e, TurnEventOut)]

    def finals(self) -> list[TranscriptOut]:
        return [e for e in self.events if isinstance(e, TranscriptOut) and e.is_final]

    def assert_nothing_after_interruption(self) -> None:
        """No caption or media of an interrupted turn comes after its INTERRUPTED event."""
        cut: set[str] = set()
        for event in self.events:
            if isinstance(event, TurnEventOut) and event.kind is TurnEventKind.INTERRUPTED:
                cut.add(event.turn_id)
            elif isinstance(event, AssistantTextOut | AudioOut | FrameOut):
                assert event.turn_id not in cut, f"{type(event).__name__} after interruption"
