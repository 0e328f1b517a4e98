"""Headless Chromium on the student page, in front of the real gateway stack: relay-only
through coturn, the real answer's lip-synced video decoded, its captions shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vtutor.gateway.v1 import gateway_pb2

from tests.rtc_edge.browser import STATS_SCRIPT, chromium
from tests.rtc_edge.conftest import ANSWER, QUESTION, LiveSession, RunningEdge, session_state
from tests.support.real_stack import RealStack
from tests.support.speech import espeak_pcm, silence_pcm, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "rtc_edge"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spoken question with silence after it, as Chromium's fake microphone (48 kHz)."""
    # Time to connect before the question: what plays before media flows is never heard.
    pcm = silence_pcm(2000, sample_rate=48000)
    pcm += espeak_pcm(QUESTION, sample_rate=48000)
    pcm += silence_pcm(3000, sample_rate=48000)
    return write_wav(tmp_path_factory.mktemp("mic") / "question.wav", pcm, sample_rate=48000)


async def test_student_page_relays_through_turn_and_shows_the_answer(
    edge: RunningEdge, live_session: LiveSession, question_wav: Path
) -> None:
    async with chromium(question_wav) as browser:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        session_id, token = live_session.session_id, live_session.token
        await page.goto(f"{edge.url}/#session_id={session_id}&token={token}")
        assert await page.input_value("#session-id") == session_id
        await page.click("#join")

        # The real ASR heard the fake microphone; the real answer plays, captioned.
        await page.wait_for_function(
            f"document.querySelector('#tutor-captions').textContent.includes({ANSWER!r})",
            timeout=90_000,
        )
        await page.wait_for_function(
            "window.vt.messages.some(m => m.type === 'playback' && m.state === 'speaking')",
            timeout=30_000,
        )
        # While the answer plays, the tutor's lip-synced frames keep being decoded.
        frames_before = (await page.evaluate(STATS_SCRIPT))["framesDecoded"]
        for _ in range(400):
            stats = await page.evaluate(STATS_SCRIPT)
            if stats["framesDecoded"] > frames_before + 25:
                break
            await asyncio.sleep(0.05)
        assert stats["framesDecoded"] > frames_before + 25, console
        assert stats["localType"] == "relay"
        assert await page.text_content("#status") == "Connected."
        assert await page.locator("#error").is_hidden()
        student_caption = await page.text_content("#student-caption") or ""
        assert student_caption.startswith("You: ") and "two plus two" in student_caption

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "student_page.png"), full_page=True)

        await page.click("#leave")
        await page.wait_for_function("window.vt.state === 'Left the session.'")


async def test_student_page_shows_a_refused_token_plainly(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession, question_wav: Path
) -> None:
    async with chromium(question_wav) as browser:
        page = await browser.new_page()
        await page.goto(f"{edge.url}/?session_id={live_session.session_id}&token=expired-token")
        await page.click("#join")
        error = page.locator("#error")
        await error.wait_for(state="visible", timeout=30_000)
        assert "not valid or has expired" in (await error.text_content() or "")
        assert len(edge.state.peers) == 0
        assert await session_state(real_stack, live_session) == gateway_pb2.SESSION_STATE_READY
