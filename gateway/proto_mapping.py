"""Conversions between the gateway's protobuf messages and its plain Python values."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf import timestamp_pb2
from vtutor.asr.v1 import asr_pb2
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2

from gateway.conversation import AudioIn, ClientInput, ConverseOptions, InterruptIn, TextIn
from gateway.converse_inputs import IdlePositionIn
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ConverseEvent,
    ErrorOut,
    FrameOut,
    SessionOpened,
    TranscriptOut,
    TurnEventKind,
    TurnEventOut,
)
from gateway.sessions import Session, SessionState, TutorProfile
from gateway.turn_records import TurnOutcome, TurnRecord, TurnTimings
from gateway.upstream.asr_client import SpeechActivity
from gateway.upstream.llm_client import citation_to_proto
from svc_core.audio import check_sample_rate
from svc_core.errors import InvalidArgument

_STATES = {
    SessionState.READY: gateway_pb2.SESSION_STATE_READY,
    SessionState.CONNECTED: gateway_pb2.SESSION_STATE_CONNECTED,
    SessionState.ENDED: gateway_pb2.SESSION_STATE_ENDED,
    SessionState.EXPIRED: gateway_pb2.SESSION_STATE_EXPIRED,
}
_TURN_EVENTS = {
    TurnEventKind.STARTED: gateway_pb2.TURN_EVENT_TYPE_STARTED,
    TurnEventKind.INTERRUPTED: gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED,
    TurnEventKind.COMPLETED: gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
    TurnEventKind.FAILED: gateway_pb2.TURN_EVENT_TYPE_FAILED,
}
_OUTCOMES = {
    TurnOutcome.COMPLETED: gateway_pb2.TURN_OUTCOME_COMPLETED,
    TurnOutcome.INTERRUPTED: gateway_pb2.TURN_OUTCOME_INTERRUPTED,
    TurnOutcome.FAILED: gateway_pb2.TURN_OUTCOME_FAILED,
}
_PIXEL_FORMATS = (
    media_pb2.PIXEL_FORMAT_I420,
    media_pb2.PIXEL_FORMAT_JPEG,
    media_pb2.PIXEL_FORMAT_RGB24,
)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value)
    return result


def tutor_from_proto(message: gateway_pb2.TutorProfile) -> TutorProfile:
    """A TutorProfile from its protobuf form."""
    return TutorProfile(
        tutor_id=message.tutor_id,
        display_name=message.display_name,
        system_prompt=message.system_prompt,
        llm_model=message.llm_model,
        voice=message.voice,
        avatar_id=message.avatar_id,
        language_code=message.language_code,
        knowledge_base_id=message.knowledge_base_id,
        video_enabled=message.video_enabled,
        phrase_hints=tuple(message.phrase_hints),
    )


def tutor_to_proto(tutor: TutorProfile) -> gateway_pb2.TutorProfile:
    """The protobuf form of a TutorProfile."""
    return gateway_pb2.TutorProfile(
        tutor_id=tutor.tutor_id,
        display_name=tutor.display_name,
        system_prompt=tutor.system_prompt,
        llm_model=tutor.llm_model,
        voice=tutor.voice,
        avatar_id=tutor.avatar_id,
        language_code=tutor.language_code,
        knowledge_base_id=tutor.knowledge_base_id,
        video_enabled=tutor.video_enabled,
        phrase_hints=list(tutor.phrase_hints),
    )


def session_to_proto(session: Session) -> gateway_pb2.Session:
    """The protobuf form of a Session (never its token)."""
    return gateway_pb2.Session(
        session_id=session.session_id,
        tenant_id=session.tenant_id,
        student_id=session.student_id,
        tutor=tutor_to_proto(session.tutor),
        state=_STATES[session.state],
        create_time=timestamp(session.create_time),
        expire_time=timestamp(session.expire_time),
        last_activity_time=timestamp(session.last_activity_time),
        turn_count=session.turn_count,
        engine_url=session.engine_url,
    )


def timings_to_proto(timings: TurnTimings) -> gateway_pb2.TurnTimings:
    """The protobuf form of TurnTimings."""
    return gateway_pb2.TurnTimings(**vars(timings))


def record_to_proto(record: TurnRecord) -> gateway_pb2.TurnRecord:
    """The protobuf form of a TurnRecord."""
    failure = record.failure
    return gateway_pb2.TurnRecord(
        turn_id=record.turn_id,
        turn_index=record.turn_index,
        user_text=record.user_text,
        assistant_text=record.assistant_text,
        interrupted=record.outcome is TurnOutcome.INTERRUPTED,
        timings=timings_to_proto(record.timings),
        citations=[citation_to_proto(c) for c in record.citations],
        start_time=timestamp(record.start_time),
        outcome=_OUTCOMES[record.outcome],
        failure_code=failure.code if failure else 0,
        failure_message=failure.message if failure else "",
        failure_stage=failure.stage if failure else "",
        speculative=record.speculative,
    )


def turn_event_to_proto(event: TurnEventOut) -> gateway_pb2.TurnEvent:
    """The protobuf form of a turn event."""
    message = gateway_pb2.TurnEvent(
        turn_id=event.turn_id,
        type=_TURN_EVENTS[event.kind],
        timings=timings_to_proto(event.timings),
    )
    if event.record is not None:
        message.record.CopyFrom(record_to_proto(event.record))
    return message


def converse_options(config: gateway_pb2.ConverseConfig, *, video_enabled: bool) -> ConverseOptions:
    """The stream options a Converse config asks for.

    Raises:
        InvalidArgument: Unsupported audio format or video settings.
    """
    for name, audio_format in (
        ("input_audio_format", config.input_audio_format),
        ("output_audio_format", config.output_audio_format),
    ):
        if audio_format.encoding not in (
            media_pb2.AUDIO_ENCODING_UNSPECIFIED,
            media_pb2.AUDIO_ENCODING_PCM_S16LE,
        ):
            raise InvalidArgument(f"{name}: only PCM s16le is supported")
        if audio_format.channels not in (0, 1):
            raise InvalidArgument(f"{name}: only mono audio is supported")
    input_rate = check_sample_rate(config.input_audio_format.sample_rate_hz)
    output_rate = check_sample_rate(config.output_audio_format.sample_rate_hz)
    wanted = set(config.output_modalities) - {gateway_pb2.MODALITY_UNSPECIFIED}
    if not wanted:
        wanted = {gateway_pb2.MODALITY_TEXT, gateway_pb2.MODALITY_AUDIO, gateway_pb2.MODALITY_VIDEO}
    send_video = gateway_pb2.MODALITY_VIDEO in wanted and video_enabled
    video = config.video
    fps = video.fps or 25
    if not 1 <= fps <= 60:
        raise InvalidArgument(f"video.fps must be 1-60, got {fps}")
    if send_video and output_rate % fps:
        raise InvalidArgument(
            f"video.fps {fps} must divide the output sample rate {output_rate} "
            "(each frame carries a whole number of samples)"
        )
    pixel_format = video.pixel_format or media_pb2.PIXEL_FORMAT_I420
    if pixel_format not in _PIXEL_FORMATS:
        raise InvalidArgument(f"unknown video.pixel_format {pixel_format}")
    return ConverseOptions(
        input_sample_rate_hz=input_rate,
        output_sample_rate_hz=output_rate,
        send_text=gateway_pb2.MODALITY_TEXT in wanted,
        send_audio=gateway_pb2.MODALITY_AUDIO in wanted and not send_video,
        send_video=send_video,
        interim_transcripts=config.interim_transcripts,
        fps=fps,
        pixel_format=pixel_format,
        width=video.width,
        height=video.height,
    )


def client_input(message: gateway_pb2.ConverseRequest) -> ClientInput:
    """The plain form of a Converse request after the config."""
    kind = message.WhichOneof("request")
    if kind == "audio":
        return AudioIn(message.audio)
    if kind == "text":
        return TextIn(message.text.text)
    if kind == "interrupt":
        return InterruptIn()
    if kind == "idle_position":
        index = message.idle_position.idle_index
        if index < 0:
            raise InvalidArgument(f"idle_position.idle_index must be 0 or more, got {index}")
        return IdlePositionIn(index)
    raise InvalidArgument(f"unexpected ConverseRequest field {kind!r}")


def converse_response(
    event: ConverseEvent, session: Session, *, send_text: bool
) -> gateway_pb2.ConverseResponse | None:
    """The protobuf message for an event; None for events this client did not ask for."""
    if isinstance(event, SessionOpened):
        return gateway_pb2.ConverseResponse(
            ready=gateway_pb2.SessionReady(
                session=session_to_proto(session),
                output_sample_rate_hz=event.output_sample_rate_hz,
                video=event.video,
            )
        )
    if isinstance(event, SpeechActivity):
        kind = (
            asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
            if event.started
            else asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED
        )
        return gateway_pb2.ConverseResponse(
            speech_event=asr_pb2.SpeechEvent(
                type=kind, offset_ms=event.offset_ms, utterance_index=event.utterance_index
            )
        )
    if isinstance(event, TranscriptOut):
        return gateway_pb2.ConverseResponse(
            transcript=gateway_pb2.Transcript(
                text=event.text,
                is_final=event.is_final,
                turn_id=event.turn_id,
                utterance_start_ms=event.utterance_start_ms,
                utterance_end_ms=event.utterance_end_ms,
            )
        )
    if isinstance(event, AssistantTextOut):
        if not send_text:
            return None
        return gateway_pb2.ConverseResponse(
            assistant_text=gateway_pb2.AssistantText(turn_id=event.turn_id, delta=event.delta)
        )
    if isinstance(event, AudioOut):
        return gateway_pb2.ConverseResponse(
            audio=media_pb2.AudioChunk(
                data=event.data, pts_us=event.pts_us, sample_rate_hz=event.sample_rate_hz
            ),
            turn_id=event.turn_id,
        )
    if isinstance(event, FrameOut):
        frame = event.frame
        return gateway_pb2.ConverseResponse(
            media_frame=media_pb2.MediaFrame(
                video=media_pb2.VideoFrame(
                    width=frame.width,
                    height=frame.height,
                    pixel_format=frame.pixel_format,  # type: ignore[arg-type]
                    data=frame.image,
                    pts_us=event.pts_us,
                ),
                audio=media_pb2.AudioChunk(
                    data=frame.audio, pts_us=event.pts_us, sample_rate_hz=frame.sample_rate_hz
                ),
            ),
            turn_id=event.turn_id,
        )
    if isinstance(event, TurnEventOut):
        return gateway_pb2.ConverseResponse(turn_event=turn_event_to_proto(event))
    return gateway_pb2.ConverseResponse(error=error_to_proto(event))


def error_to_proto(event: ErrorOut) -> gateway_pb2.ErrorEvent:
    """The protobuf form of an error event."""
    return gateway_pb2.ErrorEvent(
        code=event.code, message=event.message, stage=event.stage, turn_id=event.turn_id
    )


def status_number(code: grpc.StatusCode) -> int:
    """The number of a gRPC status code (14 for UNAVAILABLE)."""
    return int(code.value[0])
