"""The edge refuses a missing or public TURN secret outside development (issue 21, item 8), and
its responses carry CSP, framing, nosniff and referrer headers (item 7)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from pydantic import ValidationError

from rtc_edge.config import DEV_TURN_SECRET, EdgeSettings
from tests.rtc_edge.conftest import edge_settings, start_edge
from tests.support.service_process import REPO_ROOT

BACKEND = "https://school.example.test"


@pytest.mark.unit
def test_the_turn_secret_is_required_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("RTC_")]:
        monkeypatch.delenv(name)
    with pytest.raises(ValidationError, match="RTC_TURN_SECRET is not set"):
        EdgeSettings()
    with pytest.raises(ValidationError, match="public development secret"):
        EdgeSettings(turn_secret=DEV_TURN_SECRET)  # type: ignore[arg-type]
    assert EdgeSettings(turn_secret="s3cret").turn_secret.get_secret_value() == "s3cret"  # type: ignore[arg-type]
    monkeypatch.setenv("RTC_DEVELOPMENT", "1")
    assert EdgeSettings().turn_secret.get_secret_value() == DEV_TURN_SECRET


@pytest.mark.integration
def test_the_edge_process_exits_with_the_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTC_")}
    env["RTC_PORT"] = "0"
    done = subprocess.run(
        [sys.executable, "-m", "rtc_edge"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot start rtc_edge" in done.stderr and "RTC_TURN_SECRET is not set" in done.stderr


@pytest.mark.integration
async def test_pages_and_answers_carry_the_security_headers() -> None:
    settings = edge_settings("127.0.0.1:9", None, frame_ancestors=[BACKEND])
    async with start_edge(settings) as edge:
        async with httpx.AsyncClient(base_url=edge.url) as client:
            page = await client.get("/")
            script = await client.get("/static/app.js")
            health = await client.get("/health")
            missing = await client.get("/no-such-page")
    assert page.status_code == script.status_code == health.status_code == 200
    assert missing.status_code == 404
    for response in (page, script, health, missing):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    # Only the backend's student page may frame the edge's page.
    assert policy["frame-ancestors"] == BACKEND
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["object-src"] == "'none'"
    assert health.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
