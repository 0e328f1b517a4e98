"""What every part of one conversation needs, in one place (a Converse stream or a Chat call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.client_sender import ClientSender
from gateway.config import GatewaySettings
from gateway.converse_inputs import ConverseOptions
from gateway.events import ConverseEvent
from gateway.idle_position import IdleLoopPosition
from gateway.sessions import Session, SessionRegistry, TutorProfile
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_records import TurnRecord
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.llm_client import ChatMessage


class TurnRecords(Protocol):
    """Where finished turns go."""

    async def add(self, record: TurnRecord) -> None:
        """Keeps a finished turn."""


@dataclass(frozen=True)
class SessionTurns:
    """A session's history in the registry (and its WatchSessionTurns streams)."""

    registry: SessionRegistry
    session: Session

    async def add(self, record: TurnRecord) -> None:
        """Appends the turn to the session's history."""
        await self.registry.add_turn(self.session, record)


class NoRecords:
    """For a Chat call without a session: its turn is returned, not kept."""

    async def add(self, record: TurnRecord) -> None:
        """Keeps nothing."""


@dataclass
class MediaTimeline:
    """The output media clock of a stream: each turn's media follows the previous turn's."""

    next_free_us: int = 0

    def begin(self, now_us: int) -> int:
        """The stream pts at which a turn whose first media is ready at ``now_us`` starts."""
        return max(self.next_free_us, now_us)


@dataclass
class ConversationContext:
    """One conversation's session, options, upstreams, settings, clock, tracing and outputs.

    Attributes:
        tutor: Who answers.
        history: The conversation so far, for the next turn's LLM request.
        options: What the client asked for (modalities, rates, video).
        clients: The upstream clients.
        settings: Gateway settings.
        clock: The stream's clock; every timestamp of a turn is on it.
        tracing: The stream's tracing; None for a Chat call (its turn links to the caller).
        records: Where finished turns go.
        sender: The paced stage that sends to the client (``emit`` queues a stream event).
        session: The session, when there is one.
        media: The stream's output media clock.
        idle: Where the client is in the avatar's idle loop (a turn's first frame follows it).
    """

    tutor: TutorProfile
    history: Callable[[], Sequence[ChatMessage]]
    options: ConverseOptions
    clients: UpstreamClients
    settings: GatewaySettings
    clock: StreamClock
    tracing: ConversationTracing | None
    records: TurnRecords
    sender: ClientSender
    session: Session | None = None
    media: MediaTimeline = field(default_factory=MediaTimeline)
    idle: IdleLoopPosition = field(default_factory=IdleLoopPosition)

    async def emit(self, event: ConverseEvent) -> None:
        """Sends a stream event towards the client (waits while the client is behind)."""
        await self.sender.send(event)
