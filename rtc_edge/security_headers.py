"""Security headers of the edge's responses: CSP, framing, nosniff, referrer (issue 21, item 7).

The student page loads only its own script and style, talks only to its own origin (WebRTC
media is not governed by CSP), and may be framed only by the web_backend's origins
(``RTC_FRAME_ANCESTORS``), whose student page embeds it. Other responses get a policy that
allows nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

_NOTHING = "default-src 'none'; frame-ancestors 'none'"


def security_headers(
    frame_ancestors: Sequence[str],
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook: it runs when a response's content type is known (a
    file's is set only then), for every response, errors and static files included."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    page_policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        html = (response.content_type or "").startswith("text/html")
        response.headers.setdefault("Content-Security-Policy", page_policy if html else _NOTHING)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")

    return add
