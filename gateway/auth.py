"""Credentials from gRPC metadata: the backend's service key and the sessions' engine tokens."""

from __future__ import annotations

import hmac
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from svc_core.errors import ResourceExhausted, Unauthenticated

_SCHEME = "bearer "


def bearer_token(context: Any) -> str:
    """The token of the call's ``authorization: Bearer <token>`` metadata.

    Raises:
        Unauthenticated: No such metadata, or not a bearer credential.
    """
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            if text[: len(_SCHEME)].lower() == _SCHEME and text[len(_SCHEME) :].strip():
                return text[len(_SCHEME) :].strip()
            raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
    raise Unauthenticated("missing credential: send 'authorization: Bearer <token>' metadata")


class ServiceCredential:
    """Checks the control-plane credential (``GATEWAY_API_KEY``)."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("an empty API key would let anyone in")
        self._key = api_key.encode()

    def require(self, context: Any) -> None:
        """Passes when the call carries the service credential.

        Raises:
            Unauthenticated: Missing or wrong credential.
        """
        if not self.matches(bearer_token(context)):
            raise Unauthenticated("the service credential is not valid")

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is the credential (compared in constant time)."""
        return hmac.compare_digest(presented.encode(), self._key)


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that presents ``token`` (for clients of the gateway)."""
    return (("authorization", f"Bearer {token}"),)


def peer_address(context: Any) -> str:
    """The caller's address without its port (``ipv4:1.2.3.4:5678`` -> ``ipv4:1.2.3.4``)."""
    peer = str(context.peer() or "")
    host, _, port = peer.rpartition(":")
    return host if host and port.isdigit() else peer


# A trusted service in front of the gateway (rtc_edge) names the browser a request comes from,
# proving itself with the service credential: failed token checks then count against that
# browser, not against the edge, which every student's request passes through.
FORWARDED_FOR = "x-vtutor-forwarded-for"
FORWARDING_CREDENTIAL = "x-vtutor-service-credential"


def client_address(context: Any, credential: ServiceCredential) -> str:
    """The address failed engine-token checks count against: the browser's where a trusted
    service forwards it with the service credential, else the caller's own."""
    metadata = dict(context.invocation_metadata() or ())
    forwarded = str(metadata.get(FORWARDED_FOR, ""))
    proof = str(metadata.get(FORWARDING_CREDENTIAL, ""))
    if forwarded and proof and credential.matches(proof):
        return f"forwarded:{forwarded[:100]}"
    return peer_address(context)


class TokenGuard:
    """Limits failed engine-token checks per session id and per peer address.

    Only failures count, so a client with its token is never slowed down by its own use;
    one that guesses is refused after a few tries a minute, with RESOURCE_EXHAUSTED, before
    its guess is even checked.

    Args:
        per_session: Failures allowed per minute for one session id.
        per_peer: Failures allowed per minute from one peer address.
    """

    def __init__(self, *, per_session: int, per_peer: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_session = RateLimitItemPerMinute(per_session)
        self._per_peer = RateLimitItemPerMinute(per_peer)

    def require_allowed(self, session_id: str, peer: str) -> None:
        """Passes unless this session id or this peer is past its failures.

        Raises:
            ResourceExhausted: Too many failed checks lately.
        """
        if not self._limiter.test(self._per_session, "session", session_id) or not (
            self._limiter.test(self._per_peer, "peer", peer)
        ):
            raise ResourceExhausted("too many failed engine-token checks; try again in a minute")

    def failed(self, session_id: str, peer: str) -> None:
        """Counts a failed check."""
        self._limiter.hit(self._per_session, "session", session_id)
        self._limiter.hit(self._per_peer, "peer", peer)
