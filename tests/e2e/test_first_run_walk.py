"""The README's first run, in order, on a fresh data dir (issue 22): `make dev`'s launcher starts
every service and prints its URLs and the demo login; the create-tenant command it prints makes
an admin (password from stdin); in headless Chromium the admin logs in, creates and edits a
tutor, gives it a document, adds a student and copies a join link; the student opens the link
and with one click talks to the tutor, types a question and gets the answer from the document.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.speech import silence_pcm, write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_PASSWORD = "a walk in the park"
DOCUMENT = (
    "A volcano is an opening in the crust of the Earth. Molten rock under the ground is called "
    "magma. When magma flows out of a volcano onto the surface it is called lava. Lava cools and "
    "hardens into new rock."
)

# Video frames the student's page decoded from the tutor's stream.
DECODED_VIDEO_FRAMES = """
async () => {
  let frames = 0;
  (await window.vt.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
  });
  return frames;
}
"""


# Ports Chromium refuses to load a page from (net/base/port_util.cc, kRestrictedPorts): an
# offset that put a page there would fail the walk with ERR_UNSAFE_PORT (8080 + 2000 = 10080).
CHROMIUM_UNSAFE_PORTS = frozenset(
    {1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95}
    | {101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161}
    | {179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563}
    | {587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060}
    | {5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)


def _ports_free(offset: int) -> bool:
    if {8000 + offset, 8080 + offset, 3478 + offset} & CHROMIUM_UNSAFE_PORTS:
        return False
    for port in (8000, 8080, 50051, 50052, 50053, 50054, 50055):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                return False
    return True


@dataclass
class DevRun:
    """`scripts/dev.py` as a child process, with everything it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"make dev exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout_s} s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self) -> str:
        return "".join(self.lines[-60:])


@pytest.fixture
def dev_run(tmp_path: Path) -> Iterator[DevRun]:
    """`make dev`'s launcher on a fresh data dir, every port moved to a free range."""
    offset = next(o for o in random.sample(range(2000, 15000, 37), 50) if _ports_free(o))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "RTC_", "GATEWAY_"))}
    process = subprocess.Popen(
        [
            *(sys.executable, "scripts/dev.py", "--data-dir", str(tmp_path / "var")),
            *("--port-offset", str(offset)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = DevRun(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "first_run_walk.log").write_text(run.output())


def banner_value(output: str, pattern: str) -> str:
    found = re.search(pattern, output)
    assert found, f"{pattern!r} not in what make dev printed:\n{output[-3000:]}"
    return found.group(1)


def make_dev_then_create_tenant(dev_run: DevRun) -> tuple[str, str]:
    """README steps 1 and 2; returns the admin page's URL and the new admin's email."""
    # 1. make dev: the URLs appear only once the pages answer.
    dev_run.wait_for("Virtual Tutor is running", timeout_s=240)
    out = dev_run.output()
    admin_url = banner_value(out, r"admin pages:\s+(\S+)")
    assert httpx.get(admin_url.replace("/admin", "/health")).status_code == 200
    demo_password = banner_value(out, r"admin@demo\.example\s+password (\S+)")
    demo_login = httpx.post(
        admin_url.replace("/admin", "/api/auth/login"),
        json={"email": "admin@demo.example", "password": demo_password},
    )
    assert demo_login.status_code == 200, demo_login.text

    # 2. The create-tenant command make dev printed, password on stdin, no terminal.
    command = next(line for line in out.splitlines() if "web_backend.cli create-tenant" in line)
    words = shlex.split(command)
    assignments = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    argv = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    assert argv[0] == ".venv/bin/python"
    created = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        env={**os.environ, **assignments},
        input=ADMIN_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    email = argv[argv.index("--admin-email") + 1]

    return admin_url, email


async def test_readme_first_run_in_chromium(dev_run: DevRun, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    admin_url, email = await asyncio.to_thread(make_dev_then_create_tenant, dev_run)

    document = tmp_path / "volcanoes.txt"
    document.write_text(DOCUMENT)
    microphone = write_wav(
        tmp_path / "silence.wav", silence_pcm(3000, sample_rate=48000), sample_rate=48000
    )
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    async with async_playwright() as playwright:
        # The pages run under their own Content-Security-Policy (no bypass).
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium"), executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            # 3. The admin logs in and sets up a tutor, its knowledge and a student.
            admin = browser.pages[0] if browser.pages else await browser.new_page()
            await admin.goto(admin_url)
            await admin.fill("#login-email", email)
            await admin.fill("#login-password", ADMIN_PASSWORD)
            await admin.click("#login-submit")
            await admin.wait_for_selector("#app:not(.hidden)")
            await admin.locator("#no-tutors").wait_for()  # a new school: the empty state

            await admin.fill("#tutor-name", "Vera Volcano")
            await admin.click("#create-submit")
            row = admin.locator("tr", has_text="Vera Volcano")
            await row.wait_for()
            await row.locator("button", has_text="Edit").click()
            await admin.fill("#edit-prompt", "You explain the Earth to children.")
            await admin.fill("#edit-description", "Volcanoes, simply")
            await admin.click("#edit-submit")
            await admin.locator("#edit-card").wait_for(state="hidden")
            await admin.locator("tr", has_text="Volcanoes, simply").wait_for()

            await admin.click('nav.tabs button[data-tab="documents"]')
            await admin.set_input_files("#doc-files", str(document))
            await admin.click("#doc-form button[type=submit]")
            await admin.locator("#doc-summary", has_text="1 document,").wait_for(timeout=60_000)
            assert await admin.locator("#doc-error").text_content() == ""

            await admin.click('nav.tabs button[data-tab="students"]')
            await admin.fill("#student-email", "pupil@walk.example")
            await admin.fill("#student-name", "Pat")
            await admin.fill("#student-password", "pupil password")
            await admin.click("#student-form button[type=submit]")
            await admin.locator("#student-rows tr", has_text="pupil@walk.example").wait_for()

            # 4. A join link for Pat and Vera, copied, with its QR code.
            await admin.click("#link-make")
            await admin.locator("#link-result").wait_for()
            link = await admin.input_value("#link-url")
            await admin.click("#link-copy")
            await admin.locator("#link-copied", has_text="Copied").wait_for()
            qr_width = await admin.locator("#link-qr").evaluate("img => img.naturalWidth")
            assert qr_width > 0
            secret = urlsplit(link).fragment
            assert urlsplit(link).path == "/join" and len(secret) > 100
            ARTIFACTS.mkdir(exist_ok=True)
            await admin.screenshot(path=str(ARTIFACTS / "first_run_admin.png"), full_page=True)

            # 5. The student opens the link: one click, and the tutor is live.
            student = await browser.new_page()
            await student.goto(link)
            start = student.locator("#join")
            try:
                await start.wait_for(timeout=30_000)
            except Exception as error:
                body = await student.locator("body").inner_text()
                raise AssertionError(f"no join button at {student.url}: {body!r}") from error
            edge = urlsplit(student.url)
            assert edge.netloc != urlsplit(admin_url).netloc  # now on the media edge's page
            assert edge.fragment == ""  # the credentials left the address bar
            assert await student.title() == "Virtual Tutor"
            assert await student.locator("#title").text_content() == "Talk with Vera Volcano"
            assert await student.locator("#manual").is_hidden()  # no session-id/token fields
            await start.click()
            await student.locator("#status", has_text="Connected.").wait_for(timeout=60_000)
            # The click was the gesture the microphone needs: it is on (Chromium's fake one).
            assert await student.text_content("#mic") == "Microphone on: just speak."
            # The button goes once the data channel opens, which can follow "Connected."
            # (the peer connection's state) by a moment.
            await start.wait_for(state="hidden", timeout=10_000)

            await student.fill("#text", "what is lava")
            await student.click("#send")
            answer = student.locator("#tutor-captions p.tutor").first
            await answer.wait_for(timeout=60_000)
            text = ""
            deadline = time.monotonic() + 60
            while "magma" not in text.lower() and time.monotonic() < deadline:
                text = await answer.text_content() or ""
                await student.wait_for_timeout(200)
            assert "magma" in text.lower(), text
            assert await student.locator("#error").is_hidden()
            # The answer came with the tutor's video over WebRTC, not only as captions.
            frames = await student.evaluate(DECODED_VIDEO_FRAMES)
            assert frames > 0, frames
            await student.screenshot(path=str(ARTIFACTS / "first_run_student.png"), full_page=True)
            kept = await student.evaluate("JSON.parse(sessionStorage.getItem('vtutor.session'))")
            engine_token = kept["token"]
            await student.click("#leave")
        finally:
            await browser.close()

    # Neither the join secret nor the session's engine token reached a server's log: they
    # travel in URL fragments and request bodies or headers.
    log = dev_run.output()
    assert secret not in log and len(engine_token) > 20 and engine_token not in log
