"""Request and response bodies: XCreate / XUpdate / XPublic per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginRequest(BaseModel):
    """Credentials of an admin or a student."""

    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class Token(BaseModel):
    """An access token and whose it is."""

    access_token: str
    token_type: str = "bearer"
    role: str
    expires_in: int


class Me(BaseModel):
    """The caller."""

    id: str
    tenant_id: str
    email: str
    full_name: str
    role: str


class StudentCreate(BaseModel):
    """A new student."""

    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(default="", max_length=200)


class StudentUpdate(BaseModel):
    """Changes to a student; absent fields stay as they are."""

    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=256)
    is_active: bool | None = None


class StudentPublic(_Public):
    """A student as the API shows it (never the password hash)."""

    id: str
    tenant_id: str
    email: str
    full_name: str
    is_active: bool
    created_at: datetime


class AvatarPublic(_Public):
    """An avatar's metadata."""

    id: str
    avatar_key: str
    display_name: str
    engine: str
    width: int
    height: int
    idle_fps: int
    size_bytes: int
    created_at: datetime


class TutorCreate(BaseModel):
    """A new tutor (without an avatar, or with one that already exists)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    language_code: str = Field(default="en-US", pattern=LANGUAGE_PATTERN)
    system_prompt: str = Field(default="", max_length=20000)
    llm_model: str = Field(default="", max_length=200)
    voice: str = Field(default="", max_length=200)
    video_enabled: bool = True
    avatar_id: str | None = None


class TutorUpdate(BaseModel):
    """Changes to a tutor; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    language_code: str | None = Field(default=None, pattern=LANGUAGE_PATTERN)
    system_prompt: str | None = Field(default=None, max_length=20000)
    llm_model: str | None = Field(default=None, max_length=200)
    voice: str | None = Field(default=None, max_length=200)
    video_enabled: bool | None = None
    avatar_id: str | None = None


class TutorPublic(_Public):
    """A tutor as the API shows it."""

    id: str
    tenant_id: str
    name: str
    description: str
    language_code: str
    system_prompt: str
    llm_model: str
    voice: str
    video_enabled: bool
    avatar_id: str | None
    avatar: AvatarPublic | None
    knowledge_base_id: str
    # Answers from a read-only knowledge base that ships with llm_svc (the demo tutor):
    # documents cannot be added to it.
    uses_builtin_knowledge: bool = False
    created_at: datetime
    updated_at: datetime


class TutorCard(_Public):
    """What a student sees of a tutor (not its prompt)."""

    id: str
    name: str
    description: str
    language_code: str
    avatar_id: str | None


class AvatarJobPublic(_Public):
    """Progress of a create-with-avatar request."""

    id: str
    state: str
    stage: str
    percent: float
    message: str
    error: str
    tutor_id: str | None
    avatar_id: str | None
    created_at: datetime
    updated_at: datetime


class DocumentPublic(_Public):
    """A document of a tutor's knowledge base."""

    id: str
    tutor_id: str
    filename: str
    title: str
    content_type: str
    created_at: datetime
    characters: int = 0


class DocumentsIndexed(BaseModel):
    """The result of an upload: the new documents and the knowledge base's size."""

    documents: list[DocumentPublic]
    document_count: int
    passage_count: int


class TurnPublic(_Public):
    """A finished turn."""

    turn_index: int
    user_text: str
    assistant_text: str
    interrupted: bool
    failed: bool
    outcome: str = "completed"  # completed | interrupted | failed
    failure_code: str = ""  # gRPC status name, for a failed turn
    failure_stage: str = ""
    failure_message: str = ""
    timings_us: dict[str, Any]
    latency_ms: dict[str, float] = Field(default_factory=dict)
    started_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, turn: Any) -> TurnPublic:
        """The public form of a Turn row, with stage latencies worked out from its timings."""
        public = cls.model_validate(turn)
        public.latency_ms = stage_latencies_ms(public.timings_us)
        return public


# (name, from, to): each latency is the time between two stage timestamps of a turn.
_LATENCIES = (
    ("asr", "end_of_speech_us", "final_transcript_us"),
    ("first_token", "final_transcript_us", "first_token_us"),
    ("first_audio", "final_transcript_us", "first_audio_us"),
    ("first_frame", "final_transcript_us", "first_frame_us"),
    ("speech_end_to_first_frame", "end_of_speech_us", "first_frame_us"),
    ("total", "final_transcript_us", "end_us"),
)


def stage_latencies_ms(timings_us: dict[str, Any]) -> dict[str, float]:
    """Stage latencies in milliseconds; a stage that did not happen (0 or absent) is left out."""
    latencies: dict[str, float] = {}
    for name, start, end in _LATENCIES:
        begin, finish = timings_us.get(start, 0), timings_us.get(end, 0)
        if begin and finish and finish >= begin:
            latencies[name] = round((finish - begin) / 1000, 1)
    return latencies


class SessionPublic(_Public):
    """A session's summary."""

    id: str
    tutor_id: str
    student_id: str
    kind: str
    state: str
    created_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None


class SessionDetail(SessionPublic):
    """A session with its transcript."""

    turns: list[TurnPublic]


class LiveSessionStarted(BaseModel):
    """What the student page needs to join a live session through the edge."""

    session: SessionPublic
    gateway_session_id: str
    engine_url: str
    engine_token: str
    expires_at: datetime | None
    edge_url: str
    signaling_url: str
    student_page_url: str
    ice: dict[str, Any]


class ChatRequest(BaseModel):
    """A typed message to a tutor; continues `session_id` when given."""

    text: str = Field(min_length=1, max_length=4000)
    session_id: str | None = None


class ChatAnswer(BaseModel):
    """The tutor's answer, saved as a turn."""

    session_id: str
    turn: TurnPublic


class VoicePublic(BaseModel):
    """A TTS voice."""

    name: str
    display_name: str
    language_codes: list[str]
    gender: str
    engine: str


class ModelPublic(BaseModel):
    """An LLM model."""

    name: str
    family: str
    parameter_size: str
    size_bytes: int


class Catalog(BaseModel):
    """Voices and models the tutors can use."""

    voices: list[VoicePublic]
    default_voice: str
    models: list[ModelPublic]
    default_model: str


class JoinLinkCreate(BaseModel):
    """Asks for a join link of one student with one tutor."""

    student_id: str = Field(min_length=1, max_length=64)
    tutor_id: str = Field(min_length=1, max_length=64)


class JoinLinkPublic(BaseModel):
    """A join link to hand a student (the secret is in the URL's fragment), and its QR code."""

    url: str
    expires_at: datetime
    student_id: str
    tutor_id: str
    qr_svg: str


class JoinRequest(BaseModel):
    """The secret from a join link's fragment."""

    secret: str = Field(min_length=1, max_length=2000)


class JoinStarted(BaseModel):
    """A live session opened from a join link: the student's page to go to."""

    tutor_name: str
    student_name: str
    session_id: str
    student_page_url: str
    expires_at: datetime | None
