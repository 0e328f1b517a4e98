"""TURN REST credentials match what coturn computes, and the ICE configuration says relay."""

from __future__ import annotations

import subprocess

import pytest

from rtc_edge.turn_credentials import ice_configuration, make_turn_credential, turn_password

pytestmark = pytest.mark.unit


def _openssl_password(secret: str, username: str) -> str:
    # An independent implementation of base64(HMAC-SHA1(secret, username)).
    digest = subprocess.run(
        ["openssl", "dgst", "-sha1", "-hmac", secret, "-binary"],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return (
        subprocess.run(["base64"], input=digest, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def test_password_matches_openssl_hmac() -> None:
    assert turn_password("dev-turn-secret", "1700000000:abc") == _openssl_password(
        "dev-turn-secret", "1700000000:abc"
    )


def test_username_carries_expiry_and_user() -> None:
    credential = make_turn_credential("s3cret", user="student7", ttl_s=600, now=1_000_000)
    assert credential.username == "1000600:student7"
    assert credential.expires_at == 1_000_600
    assert credential.password == turn_password("s3cret", "1000600:student7")
    other = make_turn_credential("other", user="student7", ttl_s=600, now=1_000_000)
    assert other.password != credential.password


def test_user_with_colon_is_refused() -> None:
    with pytest.raises(ValueError):
        make_turn_credential("s", user="a:b", ttl_s=60)


@pytest.mark.parametrize(("relay_only", "policy"), [(True, "relay"), (False, "all")])
def test_ice_configuration(relay_only: bool, policy: str) -> None:
    credential = make_turn_credential("s", user="u", ttl_s=60, now=0)
    config = ice_configuration(["turn:h:3478"], credential, relay_only=relay_only)
    assert config["iceTransportPolicy"] == policy
    assert config["iceServers"] == [
        {"urls": ["turn:h:3478"], "username": "60:u", "credential": credential.password}
    ]
