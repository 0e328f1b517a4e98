import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vtutor.common.v1 import media_pb2 as _media_pb2
from vtutor.common.v1 import speech_pb2 as _speech_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AvatarStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AVATAR_STAGE_UNSPECIFIED: _ClassVar[AvatarStage]
    AVATAR_STAGE_RECEIVING: _ClassVar[AvatarStage]
    AVATAR_STAGE_DECODING: _ClassVar[AvatarStage]
    AVATAR_STAGE_DETECTING_FACE: _ClassVar[AvatarStage]
    AVATAR_STAGE_PREPARING_FRAMES: _ClassVar[AvatarStage]
    AVATAR_STAGE_BUILDING_IDLE_LOOP: _ClassVar[AvatarStage]
    AVATAR_STAGE_ENGINE_CACHE: _ClassVar[AvatarStage]
    AVATAR_STAGE_SAVING: _ClassVar[AvatarStage]
AVATAR_STAGE_UNSPECIFIED: AvatarStage
AVATAR_STAGE_RECEIVING: AvatarStage
AVATAR_STAGE_DECODING: AvatarStage
AVATAR_STAGE_DETECTING_FACE: AvatarStage
AVATAR_STAGE_PREPARING_FRAMES: AvatarStage
AVATAR_STAGE_BUILDING_IDLE_LOOP: AvatarStage
AVATAR_STAGE_ENGINE_CACHE: AvatarStage
AVATAR_STAGE_SAVING: AvatarStage

class StreamingAnimateRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: AnimateConfig
    audio: AnimateAudio
    def __init__(self, config: _Optional[_Union[AnimateConfig, _Mapping]] = ..., audio: _Optional[_Union[AnimateAudio, _Mapping]] = ...) -> None: ...

class AnimateConfig(_message.Message):
    __slots__ = ("avatar_id", "audio_format", "fps", "pixel_format", "width", "height", "start_idle_index")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    START_IDLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    audio_format: _media_pb2.AudioFormat
    fps: int
    pixel_format: _media_pb2.PixelFormat
    width: int
    height: int
    start_idle_index: int
    def __init__(self, avatar_id: _Optional[str] = ..., audio_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., fps: _Optional[int] = ..., pixel_format: _Optional[_Union[_media_pb2.PixelFormat, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., start_idle_index: _Optional[int] = ...) -> None: ...

class AnimateAudio(_message.Message):
    __slots__ = ("data", "visemes")
    DATA_FIELD_NUMBER: _ClassVar[int]
    VISEMES_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    visemes: _containers.RepeatedCompositeFieldContainer[_speech_pb2.VisemeEvent]
    def __init__(self, data: _Optional[bytes] = ..., visemes: _Optional[_Iterable[_Union[_speech_pb2.VisemeEvent, _Mapping]]] = ...) -> None: ...

class StreamingAnimateResponse(_message.Message):
    __slots__ = ("frame", "frame_index", "idle_index")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    IDLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    frame: _media_pb2.MediaFrame
    frame_index: int
    idle_index: int
    def __init__(self, frame: _Optional[_Union[_media_pb2.MediaFrame, _Mapping]] = ..., frame_index: _Optional[int] = ..., idle_index: _Optional[int] = ...) -> None: ...

class AvatarOptions(_message.Message):
    __slots__ = ("blur_background", "face_padding", "max_size", "idle_loop_seconds")
    BLUR_BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    FACE_PADDING_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    IDLE_LOOP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    blur_background: bool
    face_padding: float
    max_size: int
    idle_loop_seconds: float
    def __init__(self, blur_background: _Optional[bool] = ..., face_padding: _Optional[float] = ..., max_size: _Optional[int] = ..., idle_loop_seconds: _Optional[float] = ...) -> None: ...

class AvatarSpec(_message.Message):
    __slots__ = ("avatar_id", "display_name", "engine", "options", "video_format")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    display_name: str
    engine: str
    options: AvatarOptions
    video_format: str
    def __init__(self, avatar_id: _Optional[str] = ..., display_name: _Optional[str] = ..., engine: _Optional[str] = ..., options: _Optional[_Union[AvatarOptions, _Mapping]] = ..., video_format: _Optional[str] = ...) -> None: ...

class CreateAvatarRequest(_message.Message):
    __slots__ = ("spec", "video_chunk")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    spec: AvatarSpec
    video_chunk: bytes
    def __init__(self, spec: _Optional[_Union[AvatarSpec, _Mapping]] = ..., video_chunk: _Optional[bytes] = ...) -> None: ...

class AvatarProgress(_message.Message):
    __slots__ = ("stage", "percent", "message")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    stage: AvatarStage
    percent: float
    message: str
    def __init__(self, stage: _Optional[_Union[AvatarStage, str]] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class CreateAvatarResponse(_message.Message):
    __slots__ = ("progress", "avatar")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    progress: AvatarProgress
    avatar: Avatar
    def __init__(self, progress: _Optional[_Union[AvatarProgress, _Mapping]] = ..., avatar: _Optional[_Union[Avatar, _Mapping]] = ...) -> None: ...

class Avatar(_message.Message):
    __slots__ = ("avatar_id", "display_name", "engine", "width", "height", "idle_frame_count", "idle_fps", "builtin", "create_time", "size_bytes")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    IDLE_FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    IDLE_FPS_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    display_name: str
    engine: str
    width: int
    height: int
    idle_frame_count: int
    idle_fps: int
    builtin: bool
    create_time: _timestamp_pb2.Timestamp
    size_bytes: int
    def __init__(self, avatar_id: _Optional[str] = ..., display_name: _Optional[str] = ..., engine: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., idle_frame_count: _Optional[int] = ..., idle_fps: _Optional[int] = ..., builtin: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class GetAvatarRequest(_message.Message):
    __slots__ = ("avatar_id",)
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    def __init__(self, avatar_id: _Optional[str] = ...) -> None: ...

class GetAvatarResponse(_message.Message):
    __slots__ = ("avatar",)
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    avatar: Avatar
    def __init__(self, avatar: _Optional[_Union[Avatar, _Mapping]] = ...) -> None: ...

class ListAvatarsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvatarsResponse(_message.Message):
    __slots__ = ("avatars",)
    AVATARS_FIELD_NUMBER: _ClassVar[int]
    avatars: _containers.RepeatedCompositeFieldContainer[Avatar]
    def __init__(self, avatars: _Optional[_Iterable[_Union[Avatar, _Mapping]]] = ...) -> None: ...

class DeleteAvatarRequest(_message.Message):
    __slots__ = ("avatar_id",)
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    def __init__(self, avatar_id: _Optional[str] = ...) -> None: ...

class DeleteAvatarResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAvatarPreviewRequest(_message.Message):
    __slots__ = ("avatar_id", "speech")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    SPEECH_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    speech: PreviewSpeech
    def __init__(self, avatar_id: _Optional[str] = ..., speech: _Optional[_Union[PreviewSpeech, _Mapping]] = ...) -> None: ...

class PreviewSpeech(_message.Message):
    __slots__ = ("audio_format", "data", "visemes")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VISEMES_FIELD_NUMBER: _ClassVar[int]
    audio_format: _media_pb2.AudioFormat
    data: bytes
    visemes: _containers.RepeatedCompositeFieldContainer[_speech_pb2.VisemeEvent]
    def __init__(self, audio_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., data: _Optional[bytes] = ..., visemes: _Optional[_Iterable[_Union[_speech_pb2.VisemeEvent, _Mapping]]] = ...) -> None: ...

class GetAvatarPreviewResponse(_message.Message):
    __slots__ = ("image", "mime_type", "width", "height", "talking_video", "talking_video_mime_type")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TALKING_VIDEO_FIELD_NUMBER: _ClassVar[int]
    TALKING_VIDEO_MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    mime_type: str
    width: int
    height: int
    talking_video: bytes
    talking_video_mime_type: str
    def __init__(self, image: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., talking_video: _Optional[bytes] = ..., talking_video_mime_type: _Optional[str] = ...) -> None: ...

class StreamIdleFramesRequest(_message.Message):
    __slots__ = ("avatar_id", "fps", "pixel_format", "width", "height", "max_frames", "unpaced")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    UNPACED_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    fps: int
    pixel_format: _media_pb2.PixelFormat
    width: int
    height: int
    max_frames: int
    unpaced: bool
    def __init__(self, avatar_id: _Optional[str] = ..., fps: _Optional[int] = ..., pixel_format: _Optional[_Union[_media_pb2.PixelFormat, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., max_frames: _Optional[int] = ..., unpaced: _Optional[bool] = ...) -> None: ...

class StreamIdleFramesResponse(_message.Message):
    __slots__ = ("frame", "frame_index")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    frame: _media_pb2.VideoFrame
    frame_index: int
    def __init__(self, frame: _Optional[_Union[_media_pb2.VideoFrame, _Mapping]] = ..., frame_index: _Optional[int] = ...) -> None: ...
