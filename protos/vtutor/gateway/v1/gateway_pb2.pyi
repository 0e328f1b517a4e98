import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vtutor.asr.v1 import asr_pb2 as _asr_pb2
from vtutor.common.v1 import media_pb2 as _media_pb2
from vtutor.gateway.v1 import admin_pb2 as _admin_pb2
from vtutor.llm.v1 import llm_pb2 as _llm_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_READY: _ClassVar[SessionState]
    SESSION_STATE_CONNECTED: _ClassVar[SessionState]
    SESSION_STATE_ENDED: _ClassVar[SessionState]
    SESSION_STATE_EXPIRED: _ClassVar[SessionState]

class TurnOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_OUTCOME_UNSPECIFIED: _ClassVar[TurnOutcome]
    TURN_OUTCOME_COMPLETED: _ClassVar[TurnOutcome]
    TURN_OUTCOME_INTERRUPTED: _ClassVar[TurnOutcome]
    TURN_OUTCOME_FAILED: _ClassVar[TurnOutcome]

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_TEXT: _ClassVar[Modality]
    MODALITY_AUDIO: _ClassVar[Modality]
    MODALITY_VIDEO: _ClassVar[Modality]

class TurnEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_EVENT_TYPE_UNSPECIFIED: _ClassVar[TurnEventType]
    TURN_EVENT_TYPE_STARTED: _ClassVar[TurnEventType]
    TURN_EVENT_TYPE_INTERRUPTED: _ClassVar[TurnEventType]
    TURN_EVENT_TYPE_COMPLETED: _ClassVar[TurnEventType]
    TURN_EVENT_TYPE_FAILED: _ClassVar[TurnEventType]
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_READY: SessionState
SESSION_STATE_CONNECTED: SessionState
SESSION_STATE_ENDED: SessionState
SESSION_STATE_EXPIRED: SessionState
TURN_OUTCOME_UNSPECIFIED: TurnOutcome
TURN_OUTCOME_COMPLETED: TurnOutcome
TURN_OUTCOME_INTERRUPTED: TurnOutcome
TURN_OUTCOME_FAILED: TurnOutcome
MODALITY_UNSPECIFIED: Modality
MODALITY_TEXT: Modality
MODALITY_AUDIO: Modality
MODALITY_VIDEO: Modality
TURN_EVENT_TYPE_UNSPECIFIED: TurnEventType
TURN_EVENT_TYPE_STARTED: TurnEventType
TURN_EVENT_TYPE_INTERRUPTED: TurnEventType
TURN_EVENT_TYPE_COMPLETED: TurnEventType
TURN_EVENT_TYPE_FAILED: TurnEventType

class TutorProfile(_message.Message):
    __slots__ = ("tutor_id", "display_name", "system_prompt", "llm_model", "voice", "avatar_id", "language_code", "knowledge_base_id", "video_enabled", "phrase_hints")
    TUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_BASE_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ENABLED_FIELD_NUMBER: _ClassVar[int]
    PHRASE_HINTS_FIELD_NUMBER: _ClassVar[int]
    tutor_id: str
    display_name: str
    system_prompt: str
    llm_model: str
    voice: str
    avatar_id: str
    language_code: str
    knowledge_base_id: str
    video_enabled: bool
    phrase_hints: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tutor_id: _Optional[str] = ..., display_name: _Optional[str] = ..., system_prompt: _Optional[str] = ..., llm_model: _Optional[str] = ..., voice: _Optional[str] = ..., avatar_id: _Optional[str] = ..., language_code: _Optional[str] = ..., knowledge_base_id: _Optional[str] = ..., video_enabled: _Optional[bool] = ..., phrase_hints: _Optional[_Iterable[str]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "tenant_id", "student_id", "tutor", "state", "create_time", "expire_time", "last_activity_time", "turn_count", "engine_url")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TUTOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_TIME_FIELD_NUMBER: _ClassVar[int]
    TURN_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENGINE_URL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    tenant_id: str
    student_id: str
    tutor: TutorProfile
    state: SessionState
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    last_activity_time: _timestamp_pb2.Timestamp
    turn_count: int
    engine_url: str
    def __init__(self, session_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., student_id: _Optional[str] = ..., tutor: _Optional[_Union[TutorProfile, _Mapping]] = ..., state: _Optional[_Union[SessionState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., turn_count: _Optional[int] = ..., engine_url: _Optional[str] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("tenant_id", "student_id", "tutor", "ttl_seconds")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TUTOR_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    student_id: str
    tutor: TutorProfile
    ttl_seconds: int
    def __init__(self, tenant_id: _Optional[str] = ..., student_id: _Optional[str] = ..., tutor: _Optional[_Union[TutorProfile, _Mapping]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session", "engine_url", "engine_token", "expire_time")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_URL_FIELD_NUMBER: _ClassVar[int]
    ENGINE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    session: Session
    engine_url: str
    engine_token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., engine_url: _Optional[str] = ..., engine_token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class WatchSessionTurnsRequest(_message.Message):
    __slots__ = ("session_id", "from_turn_index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TURN_INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    from_turn_index: int
    def __init__(self, session_id: _Optional[str] = ..., from_turn_index: _Optional[int] = ...) -> None: ...

class WatchSessionTurnsResponse(_message.Message):
    __slots__ = ("turn",)
    TURN_FIELD_NUMBER: _ClassVar[int]
    turn: TurnRecord
    def __init__(self, turn: _Optional[_Union[TurnRecord, _Mapping]] = ...) -> None: ...

class TurnRecord(_message.Message):
    __slots__ = ("turn_id", "turn_index", "user_text", "assistant_text", "interrupted", "timings", "citations", "start_time", "outcome", "failure_code", "failure_message", "failure_stage", "speculative")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_INDEX_FIELD_NUMBER: _ClassVar[int]
    USER_TEXT_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_TEXT_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_STAGE_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    turn_index: int
    user_text: str
    assistant_text: str
    interrupted: bool
    timings: TurnTimings
    citations: _containers.RepeatedCompositeFieldContainer[_llm_pb2.Citation]
    start_time: _timestamp_pb2.Timestamp
    outcome: TurnOutcome
    failure_code: int
    failure_message: str
    failure_stage: str
    speculative: bool
    def __init__(self, turn_id: _Optional[str] = ..., turn_index: _Optional[int] = ..., user_text: _Optional[str] = ..., assistant_text: _Optional[str] = ..., interrupted: _Optional[bool] = ..., timings: _Optional[_Union[TurnTimings, _Mapping]] = ..., citations: _Optional[_Iterable[_Union[_llm_pb2.Citation, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[TurnOutcome, str]] = ..., failure_code: _Optional[int] = ..., failure_message: _Optional[str] = ..., failure_stage: _Optional[str] = ..., speculative: _Optional[bool] = ...) -> None: ...

class TurnTimings(_message.Message):
    __slots__ = ("end_of_speech_us", "final_transcript_us", "first_token_us", "first_audio_us", "first_frame_us", "last_frame_us", "end_us", "last_token_us")
    END_OF_SPEECH_US_FIELD_NUMBER: _ClassVar[int]
    FINAL_TRANSCRIPT_US_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_US_FIELD_NUMBER: _ClassVar[int]
    FIRST_AUDIO_US_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_US_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_US_FIELD_NUMBER: _ClassVar[int]
    END_US_FIELD_NUMBER: _ClassVar[int]
    LAST_TOKEN_US_FIELD_NUMBER: _ClassVar[int]
    end_of_speech_us: int
    final_transcript_us: int
    first_token_us: int
    first_audio_us: int
    first_frame_us: int
    last_frame_us: int
    end_us: int
    last_token_us: int
    def __init__(self, end_of_speech_us: _Optional[int] = ..., final_transcript_us: _Optional[int] = ..., first_token_us: _Optional[int] = ..., first_audio_us: _Optional[int] = ..., first_frame_us: _Optional[int] = ..., last_frame_us: _Optional[int] = ..., end_us: _Optional[int] = ..., last_token_us: _Optional[int] = ...) -> None: ...

class CheckEngineTokenRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CheckEngineTokenResponse(_message.Message):
    __slots__ = ("expire_time",)
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConverseRequest(_message.Message):
    __slots__ = ("config", "audio", "text", "interrupt", "idle_position")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    IDLE_POSITION_FIELD_NUMBER: _ClassVar[int]
    config: ConverseConfig
    audio: bytes
    text: TextInput
    interrupt: Interrupt
    idle_position: IdlePosition
    def __init__(self, config: _Optional[_Union[ConverseConfig, _Mapping]] = ..., audio: _Optional[bytes] = ..., text: _Optional[_Union[TextInput, _Mapping]] = ..., interrupt: _Optional[_Union[Interrupt, _Mapping]] = ..., idle_position: _Optional[_Union[IdlePosition, _Mapping]] = ...) -> None: ...

class IdlePosition(_message.Message):
    __slots__ = ("idle_index",)
    IDLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    idle_index: int
    def __init__(self, idle_index: _Optional[int] = ...) -> None: ...

class ConverseConfig(_message.Message):
    __slots__ = ("session_id", "input_audio_format", "output_audio_format", "output_modalities", "video", "interim_transcripts")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODALITIES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    INTERIM_TRANSCRIPTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    input_audio_format: _media_pb2.AudioFormat
    output_audio_format: _media_pb2.AudioFormat
    output_modalities: _containers.RepeatedScalarFieldContainer[Modality]
    video: VideoSettings
    interim_transcripts: bool
    def __init__(self, session_id: _Optional[str] = ..., input_audio_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., output_audio_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., output_modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., video: _Optional[_Union[VideoSettings, _Mapping]] = ..., interim_transcripts: _Optional[bool] = ...) -> None: ...

class VideoSettings(_message.Message):
    __slots__ = ("fps", "pixel_format", "width", "height")
    FPS_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    fps: int
    pixel_format: _media_pb2.PixelFormat
    width: int
    height: int
    def __init__(self, fps: _Optional[int] = ..., pixel_format: _Optional[_Union[_media_pb2.PixelFormat, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class TextInput(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Interrupt(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConverseResponse(_message.Message):
    __slots__ = ("ready", "speech_event", "transcript", "assistant_text", "audio", "media_frame", "turn_event", "error", "turn_id")
    READY_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_TEXT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FRAME_FIELD_NUMBER: _ClassVar[int]
    TURN_EVENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    ready: SessionReady
    speech_event: _asr_pb2.SpeechEvent
    transcript: Transcript
    assistant_text: AssistantText
    audio: _media_pb2.AudioChunk
    media_frame: _media_pb2.MediaFrame
    turn_event: TurnEvent
    error: ErrorEvent
    turn_id: str
    def __init__(self, ready: _Optional[_Union[SessionReady, _Mapping]] = ..., speech_event: _Optional[_Union[_asr_pb2.SpeechEvent, _Mapping]] = ..., transcript: _Optional[_Union[Transcript, _Mapping]] = ..., assistant_text: _Optional[_Union[AssistantText, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., media_frame: _Optional[_Union[_media_pb2.MediaFrame, _Mapping]] = ..., turn_event: _Optional[_Union[TurnEvent, _Mapping]] = ..., error: _Optional[_Union[ErrorEvent, _Mapping]] = ..., turn_id: _Optional[str] = ...) -> None: ...

class SessionReady(_message.Message):
    __slots__ = ("session", "output_sample_rate_hz", "video")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    session: Session
    output_sample_rate_hz: int
    video: bool
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., output_sample_rate_hz: _Optional[int] = ..., video: _Optional[bool] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("text", "is_final", "turn_id", "utterance_start_ms", "utterance_end_ms")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_START_MS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_END_MS_FIELD_NUMBER: _ClassVar[int]
    text: str
    is_final: bool
    turn_id: str
    utterance_start_ms: int
    utterance_end_ms: int
    def __init__(self, text: _Optional[str] = ..., is_final: _Optional[bool] = ..., turn_id: _Optional[str] = ..., utterance_start_ms: _Optional[int] = ..., utterance_end_ms: _Optional[int] = ...) -> None: ...

class AssistantText(_message.Message):
    __slots__ = ("turn_id", "delta")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    delta: str
    def __init__(self, turn_id: _Optional[str] = ..., delta: _Optional[str] = ...) -> None: ...

class TurnEvent(_message.Message):
    __slots__ = ("turn_id", "type", "timings", "record")
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    turn_id: str
    type: TurnEventType
    timings: TurnTimings
    record: TurnRecord
    def __init__(self, turn_id: _Optional[str] = ..., type: _Optional[_Union[TurnEventType, str]] = ..., timings: _Optional[_Union[TurnTimings, _Mapping]] = ..., record: _Optional[_Union[TurnRecord, _Mapping]] = ...) -> None: ...

class ErrorEvent(_message.Message):
    __slots__ = ("code", "message", "stage", "turn_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    stage: str
    turn_id: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., stage: _Optional[str] = ..., turn_id: _Optional[str] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("session_id", "tenant_id", "tutor", "history", "text")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TUTOR_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    tenant_id: str
    tutor: TutorProfile
    history: _containers.RepeatedCompositeFieldContainer[_llm_pb2.Message]
    text: str
    def __init__(self, session_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., tutor: _Optional[_Union[TutorProfile, _Mapping]] = ..., history: _Optional[_Iterable[_Union[_llm_pb2.Message, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("assistant_text", "turn_event")
    ASSISTANT_TEXT_FIELD_NUMBER: _ClassVar[int]
    TURN_EVENT_FIELD_NUMBER: _ClassVar[int]
    assistant_text: AssistantText
    turn_event: TurnEvent
    def __init__(self, assistant_text: _Optional[_Union[AssistantText, _Mapping]] = ..., turn_event: _Optional[_Union[TurnEvent, _Mapping]] = ...) -> None: ...
