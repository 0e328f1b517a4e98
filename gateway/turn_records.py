"""What a turn leaves behind: its stage timestamps and its record in the session history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from gateway.upstream.llm_client import Citation


class TurnOutcome(enum.Enum):
    """How a turn ended."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


@dataclass
class TurnTimings:
    """Stage timestamps in µs on the stream's clock; 0 for a stage that did not happen."""

    end_of_speech_us: int = 0
    final_transcript_us: int = 0
    first_token_us: int = 0
    last_token_us: int = 0
    first_audio_us: int = 0
    first_frame_us: int = 0
    last_frame_us: int = 0
    end_us: int = 0

    def mark(self, stage: str, now_us: int) -> None:
        """Sets ``<stage>_us`` to ``now_us`` unless it is already set (first occurrence wins)."""
        name = f"{stage}_us"
        if not getattr(self, name):
            setattr(self, name, max(now_us, 1))


@dataclass(frozen=True)
class TurnFailure:
    """Why a turn failed: the gRPC status code number, its message and the stage."""

    code: int
    message: str
    stage: str


@dataclass
class TurnRecord:
    """A finished turn as kept in the session's history."""

    turn_id: str
    turn_index: int
    user_text: str
    assistant_text: str
    outcome: TurnOutcome
    timings: TurnTimings
    start_time: datetime
    citations: tuple[Citation, ...] = ()
    # Upstream timings reported by the LLM (for the gateway's overhead in the benchmark).
    llm_time_to_first_token_ms: int = 0
    # How each upstream call ended ("completed", "cancelled", "failed"), by stage.
    upstream_outcomes: dict[str, str] = field(default_factory=dict)
    # Set for a FAILED turn.
    failure: TurnFailure | None = None
    # The answer was prepared before the final transcript and committed when it matched.
    speculative: bool = False

    @property
    def interrupted(self) -> bool:
        """True when barge-in or an interrupt cut the turn short."""
        return self.outcome is TurnOutcome.INTERRUPTED
