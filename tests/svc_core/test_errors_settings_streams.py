"""svc_core: error-to-status mapping, settings prefixes, config-first stream enforcement."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from pydantic_settings import SettingsConfigDict
from vtutor.asr.v1 import asr_pb2

from svc_core import errors
from svc_core.settings import ServiceSettings
from svc_core.streams import split_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied("x"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.ResourceExhausted("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Unavailable("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineExceeded("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (ConnectionRefusedError(), grpc.StatusCode.UNAVAILABLE),
        (KeyError("boom"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_for_maps_each_error(exc: BaseException, code: grpc.StatusCode) -> None:
    assert errors.status_for(exc)[0] == code


def test_service_error_message_reaches_the_client_verbatim() -> None:
    assert errors.status_for(errors.NotFound("avatar 'x' not found")) == (
        grpc.StatusCode.NOT_FOUND,
        "avatar 'x' not found",
    )


def test_internal_errors_do_not_leak_their_message() -> None:
    assert "secret" not in errors.status_for(RuntimeError("secret"))[1]


class _AsrLikeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TESTSVC_", extra="ignore")
    port: int = 50099


def test_settings_read_their_own_prefix_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTSVC_PORT", "6001")
    monkeypatch.setenv("TESTSVC_HOST", "0.0.0.0")
    monkeypatch.setenv("OTHER_PORT", "7001")
    monkeypatch.setenv("TESTSVC_LOG_LEVEL", "DEBUG")
    settings = _AsrLikeSettings()
    assert settings.port == 6001
    assert settings.bind_address == "0.0.0.0:6001"
    assert settings.log_level == "DEBUG"


def test_settings_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _AsrLikeSettings().port == 50099
    assert _AsrLikeSettings().host == "127.0.0.1"
    monkeypatch.setenv("TESTSVC_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        _AsrLikeSettings()


async def _stream(*messages: asr_pb2.StreamingRecognizeRequest) -> AsyncIterator:
    for message in messages:
        yield message


async def test_split_config_returns_config_then_payload() -> None:
    config = asr_pb2.RecognitionConfig(language_code="en-US")
    first, rest = await split_config(
        _stream(
            asr_pb2.StreamingRecognizeRequest(config=config),
            asr_pb2.StreamingRecognizeRequest(audio=b"\0\0"),
        ),
        oneof="streaming_request",
    )
    assert first.language_code == "en-US"
    assert [m.audio async for m in rest] == [b"\0\0"]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ((), "empty stream"),
        ((asr_pb2.StreamingRecognizeRequest(audio=b"\0\0"),), "got 'audio'"),
        ((asr_pb2.StreamingRecognizeRequest(),), "got an empty message"),
    ],
)
async def test_split_config_rejects_a_bad_first_message(messages, match) -> None:
    with pytest.raises(errors.InvalidArgument, match=match):
        await split_config(_stream(*messages), oneof="streaming_request")


async def test_split_config_rejects_a_second_config() -> None:
    config = asr_pb2.StreamingRecognizeRequest(config=asr_pb2.RecognitionConfig())
    _, rest = await split_config(_stream(config, config), oneof="streaming_request")
    with pytest.raises(errors.InvalidArgument, match="only be sent in the first"):
        _ = [m async for m in rest]
