"""Pages send a Content-Security-Policy, framing rules, nosniff and a Referrer-Policy (issue
21, item 7); the student page may be framed by its own origin only, the admin page by nobody."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web_backend.standalone import standalone_backend

pytestmark = pytest.mark.integration

EDGE = "https://edge.example.test:8443/live/"


def _directives(policy: str) -> dict[str, str]:
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


async def test_pages_api_and_files_carry_the_headers(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url, rtc_edge_url=EDGE) as backend:
        async with backend.client() as client:
            admin = await client.get("/admin")
            student = await client.get("/student")
            api = await client.get("/api/auth/me")
            script = await client.get("/static/student.js")
    assert admin.status_code == student.status_code == script.status_code == 200
    assert api.status_code == 401
    for response in (admin, student, api, script):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"

    admin_policy = _directives(admin.headers["Content-Security-Policy"])
    student_policy = _directives(student.headers["Content-Security-Policy"])
    for policy in (admin_policy, student_policy):
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        # The live session is the edge's page in a frame: that origin, nothing else.
        assert policy["frame-src"] == "https://edge.example.test:8443"
    assert admin_policy["frame-ancestors"] == "'none'"
    assert admin.headers["X-Frame-Options"] == "DENY"
    assert student_policy["frame-ancestors"] == "'self'"
    assert student.headers["X-Frame-Options"] == "SAMEORIGIN"
    api_policy = _directives(api.headers["Content-Security-Policy"])
    assert api_policy == {"default-src": "'none'", "frame-ancestors": "'none'"}


async def test_the_pages_need_nothing_the_policy_forbids(tmp_path: Path, database_url: str) -> None:
    # script-src and style-src 'self' without 'unsafe-inline': inline code would be blocked.
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            pages = [(await client.get(path)).text for path in ("/admin", "/student")]
    for html in pages:
        assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
        assert re.findall(r"<style\b|\sstyle=|\son[a-z]+=", html) == []
        assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []
