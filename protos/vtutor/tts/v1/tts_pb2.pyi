from vtutor.common.v1 import media_pb2 as _media_pb2
from vtutor.common.v1 import speech_pb2 as _speech_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreamingSynthesizeRequest(_message.Message):
    __slots__ = ("config", "text", "flush")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLUSH_FIELD_NUMBER: _ClassVar[int]
    config: SynthesisConfig
    text: str
    flush: Flush
    def __init__(self, config: _Optional[_Union[SynthesisConfig, _Mapping]] = ..., text: _Optional[str] = ..., flush: _Optional[_Union[Flush, _Mapping]] = ...) -> None: ...

class Flush(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SynthesisConfig(_message.Message):
    __slots__ = ("voice", "output_format", "speaking_rate", "language_code")
    VOICE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_RATE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    voice: str
    output_format: _media_pb2.AudioFormat
    speaking_rate: float
    language_code: str
    def __init__(self, voice: _Optional[str] = ..., output_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., speaking_rate: _Optional[float] = ..., language_code: _Optional[str] = ...) -> None: ...

class StreamingSynthesizeResponse(_message.Message):
    __slots__ = ("audio", "mark")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    MARK_FIELD_NUMBER: _ClassVar[int]
    audio: _media_pb2.AudioChunk
    mark: SegmentMark
    def __init__(self, audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., mark: _Optional[_Union[SegmentMark, _Mapping]] = ...) -> None: ...

class SegmentMark(_message.Message):
    __slots__ = ("segment_index", "text", "start_ms", "end_ms", "words", "visemes")
    SEGMENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    VISEMES_FIELD_NUMBER: _ClassVar[int]
    segment_index: int
    text: str
    start_ms: int
    end_ms: int
    words: _containers.RepeatedCompositeFieldContainer[_speech_pb2.WordTiming]
    visemes: _containers.RepeatedCompositeFieldContainer[_speech_pb2.VisemeEvent]
    def __init__(self, segment_index: _Optional[int] = ..., text: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., words: _Optional[_Iterable[_Union[_speech_pb2.WordTiming, _Mapping]]] = ..., visemes: _Optional[_Iterable[_Union[_speech_pb2.VisemeEvent, _Mapping]]] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ("language_code",)
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    language_code: str
    def __init__(self, language_code: _Optional[str] = ...) -> None: ...

class Voice(_message.Message):
    __slots__ = ("name", "display_name", "language_codes", "gender", "engine")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    gender: str
    engine: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., language_codes: _Optional[_Iterable[str]] = ..., gender: _Optional[str] = ..., engine: _Optional[str] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "default_voice")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VOICE_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    default_voice: str
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ..., default_voice: _Optional[str] = ...) -> None: ...
