"""Security headers of the backend's responses: CSP, framing, nosniff, referrer.

Pages load only their own scripts and styles (no inline code, nothing from other hosts), may
frame only the rtc_edge (the live session), and are framed by nobody, except the student page,
which its own origin may frame. Everything else (JSON, files) gets a policy that allows
nothing at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# FastAPI's interactive docs load Swagger UI from a CDN with inline script: no page policy.
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Pages another page of this origin may frame.
_FRAMEABLE_BY_SELF = frozenset({"/student"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL ('' when it has none)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


class SecurityHeaders:
    """The headers for each response.

    Args:
        edge_url: The rtc_edge's URL: the one origin pages may frame.
    """

    def __init__(self, edge_url: str) -> None:
        frame_src = origin_of(edge_url) or "'none'"
        self._page_policy = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
            f"frame-src {frame_src}; object-src 'none'; base-uri 'none'; form-action 'self'"
        )

    def for_response(self, path: str, content_type: str) -> dict[str, str]:
        """Headers to add to the response for ``path``."""
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if path in _DOCS_PATHS:
            return headers
        framable = path in _FRAMEABLE_BY_SELF
        ancestors = "'self'" if framable else "'none'"
        headers["X-Frame-Options"] = "SAMEORIGIN" if framable else "DENY"
        if content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = f"{self._page_policy}; frame-ancestors {ancestors}"
        else:
            headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        return headers
