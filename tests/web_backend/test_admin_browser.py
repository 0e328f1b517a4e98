"""Headless Chromium: an admin logs in, creates a tutor from an avatar video, watches the
progress and sees the preview (real gateway stack, backend served by uvicorn)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import uvicorn

from tests.support.real_stack import RealStack
from tests.web_backend.conftest import PASSWORD, make_settings
from tests.web_backend.media import face_video
from web_backend.app import crud
from web_backend.app.main import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """SQLite only: the browser test is about the page, the API tests cover both databases."""
    import shutil

    path = tmp_path / "backend.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


async def test_admin_creates_tutor_with_avatar(
    tmp_path: Path, database_url: str, real_stack: RealStack
) -> None:
    from playwright.async_api import async_playwright

    video = tmp_path / "face.mp4"
    video.write_bytes(face_video(seconds=1.0))
    app = create_app(make_settings(tmp_path, database_url, real_stack.address))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn stopped"
            await asyncio.sleep(0.05)
        with app.state.ctx.sessions() as db:
            tenant = crud.create_tenant(db=db, name="browser")
            crud.create_admin(
                db=db, tenant_id=tenant.id, email="admin@browser.test", password=PASSWORD
            )

        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=ARGS,
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(f"http://127.0.0.1:{port}/admin")
                await page.fill("#login-email", "admin@browser.test")
                await page.fill("#login-password", PASSWORD)
                await page.click("#login-submit")
                await page.wait_for_selector("#app:not(.hidden)")

                await page.fill("#tutor-name", "Professor Pixel")
                await page.fill("#tutor-description", "Drawn, but patient")
                await page.set_input_files("#tutor-video", str(video))
                await page.click("#create-submit")
                await page.wait_for_selector("#job:not(.hidden)")
                # Watch the progress the page shows until the job is done.
                states: list[str] = []
                for _ in range(1200):
                    status = await page.text_content("#job-status") or ""
                    if not states or states[-1] != status:
                        states.append(status)
                    if status in ("succeeded", "failed"):
                        break
                    await asyncio.sleep(0.05)
                assert states[-1] == "succeeded", (states, await page.text_content("#create-error"))
                assert len(states) >= 2  # something before "succeeded" was shown
                assert await page.eval_on_selector("#job-progress", "p => p.value") == 100

                preview = page.locator("img.avatar-preview").first
                await preview.wait_for()
                await page.wait_for_function(
                    "() => { const i = document.querySelector('img.avatar-preview');"
                    " return i && i.complete && i.naturalWidth > 0; }",
                    timeout=30_000,
                )
                assert "Professor Pixel" in (await page.text_content("#tutor-rows") or "")
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_backend_admin.png"), full_page=True)
            finally:
                await context.close()
    finally:
        server.should_exit = True
        await serving
