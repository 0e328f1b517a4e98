"""Credentials from gRPC metadata: the backend's service key and the sessions' engine tokens."""

from __future__ import annotations

import hmac
from typing import Any

from svc_core.errors import Unauthenticated

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
        presented = bearer_token(context).encode()
        if not hmac.compare_digest(presented, self._key):
            raise Unauthenticated("the service credential is not valid")


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that presents ``token`` (for clients of the gateway)."""
    return (("authorization", f"Bearer {token}"),)
