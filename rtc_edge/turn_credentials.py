"""TURN REST credentials (the scheme coturn's ``use-auth-secret`` checks) and ICE settings.

A credential is ``username = "<expiry unix time>:<user>"`` and
``password = base64(HMAC-SHA1(secret, username))``; coturn recomputes the password from its
``static-auth-secret`` and refuses the username once the expiry has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TurnCredential:
    """A short-lived TURN username and password."""

    username: str
    password: str
    expires_at: int  # unix seconds


def turn_password(secret: str, username: str) -> str:
    """The password coturn expects for ``username`` under ``secret``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def make_turn_credential(
    secret: str, *, user: str, ttl_s: int, now: float | None = None
) -> TurnCredential:
    """A credential for ``user`` valid for ``ttl_s`` seconds from ``now`` (default: the clock).

    Raises:
        ValueError: The user contains ":" (it would change how coturn splits the username).
    """
    if ":" in user:
        raise ValueError("a TURN user name cannot contain ':'")
    expires_at = int(now if now is not None else time.time()) + ttl_s
    username = f"{expires_at}:{user}"
    return TurnCredential(username, turn_password(secret, username), expires_at)


def ice_configuration(
    urls: list[str], credential: TurnCredential, *, relay_only: bool
) -> dict[str, Any]:
    """An RTCConfiguration dictionary for a browser (``new RTCPeerConnection(config)``)."""
    servers = [{"urls": urls, "username": credential.username, "credential": credential.password}]
    return {
        "iceServers": servers if urls else [],
        "iceTransportPolicy": "relay" if relay_only else "all",
        "expiresAt": credential.expires_at,
    }
