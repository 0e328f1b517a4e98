"""Headless Chromium on the student page: relay-only through coturn, video decoded, captions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rtc_edge.browser import STATS_SCRIPT, chromium
from tests.rtc_edge.conftest import SESSION_ID, TOKEN, RunningEdge, RunningGatewayDouble
from tests.rtc_edge.scripted_gateway import ANSWER
from tests.support.speech import espeak_pcm, silence_pcm, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "rtc_edge"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spoken question with silence after it, as Chromium's fake microphone (48 kHz)."""
    pcm = silence_pcm(500, sample_rate=48000)
    pcm += espeak_pcm("what is two plus two", sample_rate=48000)
    pcm += silence_pcm(3000, sample_rate=48000)
    return write_wav(tmp_path_factory.mktemp("mic") / "question.wav", pcm, sample_rate=48000)


async def test_student_page_relays_through_turn_and_shows_the_answer(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, question_wav: Path
) -> None:
    async with chromium(question_wav) as browser:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await page.goto(f"{edge.url}/#session_id={SESSION_ID}&token={TOKEN}")
        assert await page.input_value("#session-id") == SESSION_ID
        await page.click("#join")

        await page.wait_for_function(
            "window.vt.messages.some(m => m.type === 'turn' && m.event === 'completed')",
            timeout=60_000,
        )
        await page.wait_for_function(
            f"document.querySelector('#tutor-captions').textContent.includes({ANSWER!r})",
            timeout=10_000,
        )
        stats = await page.evaluate(STATS_SCRIPT)
        assert stats["framesDecoded"] > 25, console
        assert stats["localType"] == "relay"
        assert await page.text_content("#status") == "Connected."
        assert await page.locator("#error").is_hidden()
        assert (await page.text_content("#student-caption") or "").startswith("You: ")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "student_page.png"), full_page=True)

        session = scripted_gateway.servicer.sessions[SESSION_ID]
        assert session.audio_bytes > 16000 * 2  # over a second of microphone audio arrived

        await page.click("#leave")
        await page.wait_for_function("window.vt.state === 'Left the session.'")


async def test_student_page_shows_a_refused_token_plainly(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, question_wav: Path
) -> None:
    async with chromium(question_wav) as browser:
        page = await browser.new_page()
        await page.goto(f"{edge.url}/?session_id={SESSION_ID}&token=expired-token")
        await page.click("#join")
        error = page.locator("#error")
        await error.wait_for(state="visible", timeout=30_000)
        assert "not valid or has expired" in (await error.text_content() or "")
        assert len(edge.state.peers) == 0
        assert scripted_gateway.servicer.sessions[SESSION_ID].streams_opened == 0
