from vtutor.common.v1 import media_pb2 as _media_pb2
from vtutor.lipsync.v1 import lipsync_pb2 as _lipsync_pb2
from vtutor.llm.v1 import llm_pb2 as _llm_pb2
from vtutor.tts.v1 import tts_pb2 as _tts_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAvatarRequest(_message.Message):
    __slots__ = ("spec", "video_chunk")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    spec: _lipsync_pb2.AvatarSpec
    video_chunk: bytes
    def __init__(self, spec: _Optional[_Union[_lipsync_pb2.AvatarSpec, _Mapping]] = ..., video_chunk: _Optional[bytes] = ...) -> None: ...

class CreateAvatarResponse(_message.Message):
    __slots__ = ("progress", "avatar")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    progress: _lipsync_pb2.AvatarProgress
    avatar: _lipsync_pb2.Avatar
    def __init__(self, progress: _Optional[_Union[_lipsync_pb2.AvatarProgress, _Mapping]] = ..., avatar: _Optional[_Union[_lipsync_pb2.Avatar, _Mapping]] = ...) -> None: ...

class GetAvatarRequest(_message.Message):
    __slots__ = ("avatar_id",)
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    def __init__(self, avatar_id: _Optional[str] = ...) -> None: ...

class GetAvatarResponse(_message.Message):
    __slots__ = ("avatar",)
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    avatar: _lipsync_pb2.Avatar
    def __init__(self, avatar: _Optional[_Union[_lipsync_pb2.Avatar, _Mapping]] = ...) -> None: ...

class ListAvatarsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvatarsResponse(_message.Message):
    __slots__ = ("avatars",)
    AVATARS_FIELD_NUMBER: _ClassVar[int]
    avatars: _containers.RepeatedCompositeFieldContainer[_lipsync_pb2.Avatar]
    def __init__(self, avatars: _Optional[_Iterable[_Union[_lipsync_pb2.Avatar, _Mapping]]] = ...) -> None: ...

class DeleteAvatarRequest(_message.Message):
    __slots__ = ("avatar_id",)
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    def __init__(self, avatar_id: _Optional[str] = ...) -> None: ...

class DeleteAvatarResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAvatarPreviewRequest(_message.Message):
    __slots__ = ("avatar_id", "talking", "voice", "sample_text")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    TALKING_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TEXT_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    talking: bool
    voice: str
    sample_text: str
    def __init__(self, avatar_id: _Optional[str] = ..., talking: _Optional[bool] = ..., voice: _Optional[str] = ..., sample_text: _Optional[str] = ...) -> None: ...

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

class ListVoicesRequest(_message.Message):
    __slots__ = ("language_code",)
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    language_code: str
    def __init__(self, language_code: _Optional[str] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "default_voice")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VOICE_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[_tts_pb2.Voice]
    default_voice: str
    def __init__(self, voices: _Optional[_Iterable[_Union[_tts_pb2.Voice, _Mapping]]] = ..., default_voice: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "default_model")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_llm_pb2.Model]
    default_model: str
    def __init__(self, models: _Optional[_Iterable[_Union[_llm_pb2.Model, _Mapping]]] = ..., default_model: _Optional[str] = ...) -> None: ...

class IndexDocumentsRequest(_message.Message):
    __slots__ = ("knowledge_base_id", "documents")
    KNOWLEDGE_BASE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    knowledge_base_id: str
    documents: _containers.RepeatedCompositeFieldContainer[_llm_pb2.Document]
    def __init__(self, knowledge_base_id: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[_llm_pb2.Document, _Mapping]]] = ...) -> None: ...

class IndexDocumentsResponse(_message.Message):
    __slots__ = ("document_count", "passage_count")
    DOCUMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    document_count: int
    passage_count: int
    def __init__(self, document_count: _Optional[int] = ..., passage_count: _Optional[int] = ...) -> None: ...

class DeleteKnowledgeBaseRequest(_message.Message):
    __slots__ = ("knowledge_base_id",)
    KNOWLEDGE_BASE_ID_FIELD_NUMBER: _ClassVar[int]
    knowledge_base_id: str
    def __init__(self, knowledge_base_id: _Optional[str] = ...) -> None: ...

class DeleteKnowledgeBaseResponse(_message.Message):
    __slots__ = ("deleted_documents",)
    DELETED_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    deleted_documents: int
    def __init__(self, deleted_documents: _Optional[int] = ...) -> None: ...
