"""Join links: a signed secret that lets one student open a live session with one tutor.

The link is ``<backend>/join#<secret>``. The secret rides in the URL fragment, which browsers
never send to a server (so it reaches no access log and no Referer header); the join page
posts it to ``/api/join`` in a request body. It is a JWT signed with the backend's key, with
its own audience, so it can never pass for an access token (nor one for it). It names the
student, the tutor and their tenant; using it checks that all three still exist and that the
student is active, so deleting or disabling the student revokes every link they hold.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import segno

from web_backend.app.core.security import ALGORITHM

AUDIENCE = "vtutor-join"


class JoinLinkInvalid(Exception):
    """The secret is malformed, badly signed, not a join secret, or expired.

    ``str(error)`` is a sentence fit to show the student.
    """


@dataclass(frozen=True)
class JoinClaims:
    """Who may join whom."""

    tenant_id: str
    student_id: str
    tutor_id: str


def create_join_secret(
    claims: JoinClaims, *, secret: str, ttl: timedelta, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed join secret for ``claims``; returns it and when it expires."""
    issued = now or datetime.now(UTC)
    expires = issued + ttl
    payload = {
        "aud": AUDIENCE,
        "sub": claims.student_id,
        "tenant": claims.tenant_id,
        "tutor": claims.tutor_id,
        "iat": issued,
        "exp": expires,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), expires


def read_join_secret(token: str, *, secret: str) -> JoinClaims:
    """The claims of a valid join secret.

    Raises:
        JoinLinkInvalid: expired, tampered with, or not a join secret at all.
    """
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise JoinLinkInvalid("this join link has expired: ask for a new one") from None
    except jwt.InvalidTokenError:
        raise JoinLinkInvalid("this join link is not valid: ask for a new one") from None
    tenant, tutor = payload.get("tenant"), payload.get("tutor")
    if not isinstance(tenant, str) or not isinstance(tutor, str):
        raise JoinLinkInvalid("this join link is not valid: ask for a new one")
    return JoinClaims(tenant_id=tenant, student_id=str(payload["sub"]), tutor_id=tutor)


def join_url(base_url: str, join_secret: str) -> str:
    """The link a student opens: the join page, with the secret in the fragment."""
    return f"{base_url.rstrip('/')}/join#{join_secret}"


def qr_svg(url: str) -> str:
    """A QR code of ``url`` as a standalone SVG document (black on white, 4-module margin)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        light="#fff",
        xmldecl=False,
        title="Join link",
    )
    return buffer.getvalue().decode()
