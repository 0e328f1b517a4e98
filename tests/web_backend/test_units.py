"""Pieces without servers: TURN credentials, tokens, settings, latencies, the first-run CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from web_backend import cli
from web_backend.app import models
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory
from web_backend.app.core.ice import ice_configuration, turn_rest_credentials
from web_backend.app.core.security import (
    TokenClaims,
    create_access_token,
    decode_access_token,
    verify_password,
)
from web_backend.app.schemas import stage_latencies_ms

pytestmark = pytest.mark.unit

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_turn_rest_credentials_follow_coturn_scheme() -> None:
    username, password = turn_rest_credentials("s3cret", "student-1", ttl_s=600, now=1_000_000)
    assert username == "1000600:student-1"
    expected = base64.b64encode(hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest())
    assert password == expected.decode()


def test_ice_configuration_without_turn_secret_has_no_turn() -> None:
    settings = Settings(turn_urls=["turn:x:3478"], stun_urls=["stun:x:3478"])
    config = ice_configuration(settings, user="u")
    assert config == {"iceServers": [{"urls": ["stun:x:3478"]}], "iceTransportPolicy": "all"}


def test_tokens_round_trip_and_expire() -> None:
    claims = TokenClaims(subject="id-1", tenant_id="t-1", role="student")
    token = create_access_token(claims, secret=SECRET, ttl=timedelta(minutes=1))
    assert decode_access_token(token, secret=SECRET) == claims
    old = create_access_token(
        claims, secret=SECRET, ttl=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1)
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_access_token(old, secret=SECRET)
    roleless = jwt.encode(
        {
            "sub": "x",
            "exp": datetime.now(UTC) + timedelta(minutes=1),
            "role": "root",
            "tenant": "t",
        },
        SECRET,
    )
    with pytest.raises(jwt.InvalidTokenError):
        decode_access_token(roleless, secret=SECRET)
    unsigned = jwt.encode(
        {"sub": "x", "role": "admin", "tenant": "t", "exp": 9999999999}, "", algorithm="none"
    )
    with pytest.raises(jwt.InvalidTokenError):
        decode_access_token(unsigned, secret=SECRET)


def test_unknown_account_still_costs_a_verification() -> None:
    assert verify_password("anything", None) is False


def test_jwt_secret_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.resolved_jwt_secret()
    assert len(first) >= 48 and first == Settings(data_dir=tmp_path).resolved_jwt_secret()
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
    assert (
        Settings(data_dir=tmp_path, jwt_secret="configured").resolved_jwt_secret() == "configured"
    )


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/web_backend.sqlite3"
    assert Settings(database_url="postgresql+psycopg://x/y").resolved_database_url.startswith(
        "postgresql"
    )
    assert Settings().port == 8000 and Settings().max_video_bytes == 100 * 1024 * 1024


def test_stage_latencies() -> None:
    timings = {
        "end_of_speech_us": 1_000_000,
        "final_transcript_us": 1_250_000,
        "first_token_us": 1_400_000,
        "end_us": 2_250_000,
    }
    assert stage_latencies_ms(timings) == {"asr": 250.0, "first_token": 150.0, "total": 1000.0}
    assert stage_latencies_ms({}) == {}


def test_cli_creates_tenant_and_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "first-run" / "data"  # does not exist yet, as on a first run
    monkeypatch.setenv("WEB_DATA_DIR", str(data_dir))
    args = [
        "create-tenant",
        "--name",
        "Springfield",
        "--admin-email",
        "Boss@Springfield.test",
        "--admin-password",
        "correct horse battery",
    ]
    assert cli.main(args) == 0
    assert "Springfield" in capsys.readouterr().out
    assert cli.main(args) == 1
    assert "exists" in capsys.readouterr().err
    short = [
        "create-tenant",
        "--name",
        "Other",
        "--admin-email",
        "o@o.test",
        "--admin-password",
        "short",
    ]
    assert cli.main(short) == 1
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    with make_session_factory(engine)() as db:
        admin = db.scalars(select(models.Admin)).one()
        assert admin.email == "boss@springfield.test"
        assert admin.hashed_password.startswith("$argon2")
        assert db.scalars(select(models.Tenant)).one().name == "Springfield"
    engine.dispose()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("RESOURCE_EXHAUSTED", 429),
        ("UNAVAILABLE", 503),
        ("INVALID_ARGUMENT", 422),
        ("NOT_FOUND", 404),
        ("UNAUTHENTICATED", 502),
        ("DATA_LOSS", 502),
    ],
)
def test_gateway_status_codes_map_to_http(code: str, status: int) -> None:
    """Codes the real stack cannot be made to answer on demand (the others are end to end)."""
    import grpc

    from web_backend.app.core.gateway import GatewayError

    error = grpc.aio.AioRpcError(
        getattr(grpc.StatusCode, code), grpc.aio.Metadata(), grpc.aio.Metadata(), "detail"
    )
    mapped = GatewayError.from_rpc_error(error)
    assert (mapped.code, mapped.http_status, mapped.message) == (code, status, "detail")
