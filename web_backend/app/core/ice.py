"""ICE servers for the student page: STUN, and TURN with short-lived REST credentials.

coturn's ``use-auth-secret`` scheme: username ``"<expiry unix time>:<user>"``, password
``base64(HMAC-SHA1(secret, username))``. Computing them here keeps the backend independent of
the edge's own ICE endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from web_backend.app.core.config import Settings


def turn_rest_credentials(
    secret: str, user: str, *, ttl_s: int, now: float | None = None
) -> tuple[str, str]:
    """The (username, password) pair coturn accepts until ``now + ttl_s``."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_configuration(settings: Settings, *, user: str) -> dict[str, Any]:
    """The RTCConfiguration-shaped dict the page passes to ``RTCPeerConnection``."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    secret = settings.turn_secret.get_secret_value()
    if settings.turn_urls and secret:
        username, credential = turn_rest_credentials(secret, user, ttl_s=settings.turn_ttl_s)
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return {
        "iceServers": servers,
        "iceTransportPolicy": "relay" if settings.ice_relay_only else "all",
    }
