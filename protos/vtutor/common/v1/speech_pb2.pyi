from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Viseme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISEME_UNSPECIFIED: _ClassVar[Viseme]
    VISEME_SIL: _ClassVar[Viseme]
    VISEME_PP: _ClassVar[Viseme]
    VISEME_FF: _ClassVar[Viseme]
    VISEME_TH: _ClassVar[Viseme]
    VISEME_DD: _ClassVar[Viseme]
    VISEME_KK: _ClassVar[Viseme]
    VISEME_CH: _ClassVar[Viseme]
    VISEME_SS: _ClassVar[Viseme]
    VISEME_NN: _ClassVar[Viseme]
    VISEME_RR: _ClassVar[Viseme]
    VISEME_AA: _ClassVar[Viseme]
    VISEME_E: _ClassVar[Viseme]
    VISEME_IH: _ClassVar[Viseme]
    VISEME_OH: _ClassVar[Viseme]
    VISEME_OU: _ClassVar[Viseme]
VISEME_UNSPECIFIED: Viseme
VISEME_SIL: Viseme
VISEME_PP: Viseme
VISEME_FF: Viseme
VISEME_TH: Viseme
VISEME_DD: Viseme
VISEME_KK: Viseme
VISEME_CH: Viseme
VISEME_SS: Viseme
VISEME_NN: Viseme
VISEME_RR: Viseme
VISEME_AA: Viseme
VISEME_E: Viseme
VISEME_IH: Viseme
VISEME_OH: Viseme
VISEME_OU: Viseme

class WordTiming(_message.Message):
    __slots__ = ("word", "start_ms", "end_ms", "confidence")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_ms: int
    end_ms: int
    confidence: float
    def __init__(self, word: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class VisemeEvent(_message.Message):
    __slots__ = ("viseme", "start_ms", "end_ms")
    VISEME_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    viseme: Viseme
    start_ms: int
    end_ms: int
    def __init__(self, viseme: _Optional[_Union[Viseme, str]] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...
