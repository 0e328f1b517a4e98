from vtutor.common.v1 import media_pb2 as _media_pb2
from vtutor.common.v1 import speech_pb2 as _speech_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpeechEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_EVENT_TYPE_UNSPECIFIED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_STARTED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_ENDED: _ClassVar[SpeechEventType]

class EndOfTurnReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_OF_TURN_REASON_UNSPECIFIED: _ClassVar[EndOfTurnReason]
    END_OF_TURN_REASON_SILENCE: _ClassVar[EndOfTurnReason]
    END_OF_TURN_REASON_TURN_COMPLETE: _ClassVar[EndOfTurnReason]
    END_OF_TURN_REASON_SILENCE_LIMIT: _ClassVar[EndOfTurnReason]
    END_OF_TURN_REASON_MAX_UTTERANCE: _ClassVar[EndOfTurnReason]
    END_OF_TURN_REASON_END_OF_AUDIO: _ClassVar[EndOfTurnReason]
SPEECH_EVENT_TYPE_UNSPECIFIED: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_STARTED: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_ENDED: SpeechEventType
END_OF_TURN_REASON_UNSPECIFIED: EndOfTurnReason
END_OF_TURN_REASON_SILENCE: EndOfTurnReason
END_OF_TURN_REASON_TURN_COMPLETE: EndOfTurnReason
END_OF_TURN_REASON_SILENCE_LIMIT: EndOfTurnReason
END_OF_TURN_REASON_MAX_UTTERANCE: EndOfTurnReason
END_OF_TURN_REASON_END_OF_AUDIO: EndOfTurnReason

class StreamingRecognizeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognitionConfig(_message.Message):
    __slots__ = ("audio_format", "language_code", "interim_results", "phrase_hints", "endpointing", "knowledge_base_id")
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    PHRASE_HINTS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTING_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_BASE_ID_FIELD_NUMBER: _ClassVar[int]
    audio_format: _media_pb2.AudioFormat
    language_code: str
    interim_results: bool
    phrase_hints: _containers.RepeatedScalarFieldContainer[str]
    endpointing: EndpointingConfig
    knowledge_base_id: str
    def __init__(self, audio_format: _Optional[_Union[_media_pb2.AudioFormat, _Mapping]] = ..., language_code: _Optional[str] = ..., interim_results: _Optional[bool] = ..., phrase_hints: _Optional[_Iterable[str]] = ..., endpointing: _Optional[_Union[EndpointingConfig, _Mapping]] = ..., knowledge_base_id: _Optional[str] = ...) -> None: ...

class EndpointingConfig(_message.Message):
    __slots__ = ("min_silence_ms", "min_speech_ms", "vad_threshold", "max_utterance_ms", "speech_pad_ms")
    MIN_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    VAD_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_MS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_PAD_MS_FIELD_NUMBER: _ClassVar[int]
    min_silence_ms: int
    min_speech_ms: int
    vad_threshold: float
    max_utterance_ms: int
    speech_pad_ms: int
    def __init__(self, min_silence_ms: _Optional[int] = ..., min_speech_ms: _Optional[int] = ..., vad_threshold: _Optional[float] = ..., max_utterance_ms: _Optional[int] = ..., speech_pad_ms: _Optional[int] = ...) -> None: ...

class StreamingRecognizeResponse(_message.Message):
    __slots__ = ("speech_event", "result")
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    speech_event: SpeechEvent
    result: RecognitionResult
    def __init__(self, speech_event: _Optional[_Union[SpeechEvent, _Mapping]] = ..., result: _Optional[_Union[RecognitionResult, _Mapping]] = ...) -> None: ...

class SpeechEvent(_message.Message):
    __slots__ = ("type", "offset_ms", "utterance_index", "end_of_turn_reason", "end_of_turn_probability")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    END_OF_TURN_REASON_FIELD_NUMBER: _ClassVar[int]
    END_OF_TURN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    type: SpeechEventType
    offset_ms: int
    utterance_index: int
    end_of_turn_reason: EndOfTurnReason
    end_of_turn_probability: float
    def __init__(self, type: _Optional[_Union[SpeechEventType, str]] = ..., offset_ms: _Optional[int] = ..., utterance_index: _Optional[int] = ..., end_of_turn_reason: _Optional[_Union[EndOfTurnReason, str]] = ..., end_of_turn_probability: _Optional[float] = ...) -> None: ...

class RecognitionResult(_message.Message):
    __slots__ = ("transcript", "is_final", "stability", "confidence", "words", "utterance_start_ms", "utterance_end_ms", "utterance_index")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_START_MS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_END_MS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    is_final: bool
    stability: float
    confidence: float
    words: _containers.RepeatedCompositeFieldContainer[_speech_pb2.WordTiming]
    utterance_start_ms: int
    utterance_end_ms: int
    utterance_index: int
    def __init__(self, transcript: _Optional[str] = ..., is_final: _Optional[bool] = ..., stability: _Optional[float] = ..., confidence: _Optional[float] = ..., words: _Optional[_Iterable[_Union[_speech_pb2.WordTiming, _Mapping]]] = ..., utterance_start_ms: _Optional[int] = ..., utterance_end_ms: _Optional[int] = ..., utterance_index: _Optional[int] = ...) -> None: ...
