"""What the gateway tells a peer, as plain dataclasses: the edge's own words for Converse.

Only ``gateway_link`` reads and writes protobuf; playout, the peer session and the data channel
see these. Media carry the id of the turn they belong to, so an interrupted turn's media can be
dropped by id, whether already queued or still on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rtc_edge.video_encoding import I420Image

TurnEventKind = Literal["started", "interrupted", "completed", "failed", "unknown"]


@dataclass(frozen=True)
class ConversationReady:
    """The gateway opened the conversation."""

    session_id: str
    avatar_id: str
    video: bool
    output_sample_rate_hz: int


@dataclass(frozen=True)
class TutorAudio:
    """Tutor speech: mono s16le PCM at ``sample_rate_hz``, starting at ``pts_us``."""

    turn_id: str
    pcm: bytes
    sample_rate_hz: int
    pts_us: int


@dataclass(frozen=True)
class TutorFrame:
    """A video frame of the tutor with exactly the audio it covers.

    ``image`` is None for a picture the edge cannot show (an unsupported pixel layout); its
    audio still plays.
    """

    turn_id: str
    image: I420Image | None
    pts_us: int
    audio: TutorAudio


@dataclass(frozen=True)
class TurnEvent:
    """A turn started, was interrupted, completed or failed.

    ``stage_ms``: the gateway's stage times so far, in ms from the end of the student's speech
    (``final_transcript``, ``first_token``, ``first_audio``, ``first_frame``: the first TTS
    audio and the first lip-sync frame as they reached the gateway); empty for a typed turn.
    What a page or a load test needs to tell where a slow answer's time went.
    """

    kind: TurnEventKind
    turn_id: str
    stage_ms: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Transcript:
    """What the student said (interim, or final with the turn it starts)."""

    text: str
    final: bool
    turn_id: str


@dataclass(frozen=True)
class AssistantText:
    """A piece of the tutor's answer (captions)."""

    turn_id: str
    delta: str


@dataclass(frozen=True)
class SpeechEvent:
    """The recognizer heard speech start or end (``name``: "started", "ended", ...)."""

    name: str


@dataclass(frozen=True)
class ConversationError:
    """An error the gateway reported; the stream goes on unless it ends."""

    code: int
    message: str
    stage: str


ConverseEvent = (
    TutorAudio
    | TutorFrame
    | TurnEvent
    | Transcript
    | AssistantText
    | SpeechEvent
    | ConversationError
)
