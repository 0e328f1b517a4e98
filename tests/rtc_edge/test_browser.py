"""Headless Chromium on the student page, in front of the real gateway stack: relay-only
through coturn, H.264 negotiated, the idle loop -> answer -> idle loop switches decoded without
a picture loss, the answer's sound and picture starting together, its captions shown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from vtutor.gateway.v1 import gateway_pb2

from tests.rtc_edge.browser import (
    AV_PROBE_SCRIPT,
    STATS_SCRIPT,
    VIDEO_HEALTH_SCRIPT,
    av_offsets_during,
    av_onsets,
    chromium,
    playout_offsets,
    rtp_origins,
)
from tests.rtc_edge.conftest import (
    LONG_QUESTION,
    QUESTION,
    LiveSession,
    RunningEdge,
    session_state,
)
from tests.support.real_stack import RealStack
from tests.support.speech import espeak_pcm, silence_pcm, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "rtc_edge"
# Sound heard after its picture, ms: the page holds the video as long as the audio waits. On
# this shared 2-core machine, with the hold, a first answer's onset measured -65..+62 ms and
# the median during an answer stayed within ~10; without it the onset ran 25-410 and the
# median ~80. What the hold cannot undo is a starved edge or browser at the very start of an
# answer: the audio's jitter buffer runs dry once and its playout moves later (172 ms once,
# with other work loading the machine), or the turn's key frame arrives late and the video
# falls behind, which the other stream follows only at Chromium's 100 ms a second. The onset
# bound allows for one such start; the median catches a page that does not hold the video.
AV_ONSET_BOUND_MS = 250
AV_DURING_BOUND_MS = 60


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
        await page.add_init_script(AV_PROBE_SCRIPT)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        session_id, token = live_session.session_id, live_session.token
        await page.goto(f"{edge.url}/#session_id={session_id}&token={token}")
        assert await page.input_value("#session-id") == session_id
        await page.click("#join")

        # The real ASR heard the fake microphone; the real answer plays, captioned.
        await page.wait_for_function(
            "document.querySelector('#tutor-captions').textContent.trim().length > 0",
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

        # Back to the idle loop after the answer; every switch decoded without a picture loss.
        await page.wait_for_function("window.avt.listeningAt !== null", timeout=90_000)
        after = (await page.evaluate(VIDEO_HEALTH_SCRIPT))["framesDecoded"]
        for _ in range(200):
            health = await page.evaluate(VIDEO_HEALTH_SCRIPT)
            if health["framesDecoded"] >= after + 25:
                break
            await asyncio.sleep(0.05)
        assert health["codec"] == "video/H264", health  # the edge prefers H.264
        assert health["framesDecoded"] >= after + 25, health
        assert health["keyFramesDecoded"] >= 2, health  # the switches start on key frames
        assert health["pliCount"] == 0 and health["firCount"] == 0, health

        # The answer's picture and sound start together at the browser: the sound is heard as
        # long after the first frame shows as the edge sent it after that frame (a voice's
        # leading silence), to within A/V_ONSET_BOUND_MS.
        probe = await page.evaluate("window.avt")
        assert probe["error"] is None, probe["error"]
        assert probe["sound"], "the answer was never heard"
        (peer,) = list(edge.state.peers)
        origins = await rtp_origins(peer)
        onsets = av_onsets(
            probe, peer.video_track.turn_onsets, peer.audio_track.sound_onsets, origins
        )
        assert onsets, (probe["sound"], peer.video_track.turn_onsets)
        answer = onsets[0]
        # And they stay together while the answer plays (every half second).
        during = sorted(
            av_offsets_during(
                probe, peer.video_track.turn_onsets, peer.audio_track.sound_onsets, origins
            )
        )
        assert len(during) >= 4, during
        median = during[len(during) // 2]
        estimate = sorted(playout_offsets(probe))  # Chromium's own account, beside it
        hold = await page.evaluate("window.vt.videoHoldMs ?? null")
        assert hold is not None and hold > 0, "the page never held the video for the audio"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "av_onset.json").write_text(
            json.dumps(
                {
                    "av_onset_ms": round(answer.offset_ms, 1),
                    **answer.as_json(),
                    "during_answer_ms": {"median": round(median, 1), "n": len(during)},
                    "during_answer_chromium_estimate_ms": {
                        "median": estimate[len(estimate) // 2] if estimate else None,
                        "n": len(estimate),
                    },
                    "video_hold_ms": hold,
                },
                indent=2,
            )
        )
        assert abs(answer.offset_ms) <= AV_ONSET_BOUND_MS, answer
        assert abs(median) <= AV_DURING_BOUND_MS, during
        assert await page.text_content("#status") == "Connected."
        assert await page.locator("#error").is_hidden()
        student_caption = await page.text_content("#student-caption") or ""
        assert student_caption.startswith("You: ") and "two plus two" in student_caption

        await page.screenshot(path=str(ARTIFACTS / "student_page.png"), full_page=True)

        # Interrupting: the page silences the answer at once (what the browser still buffers
        # too); the edge drops its queue and says so; the next answer is heard again.
        speaking = "window.vt.messages.filter(m => m.type === 'playback' && m.state === 'speaking')"
        await page.fill("#text", LONG_QUESTION)
        await page.click("#send")
        await page.wait_for_function(f"{speaking}.length >= 2", timeout=60_000)
        assert not await page.eval_on_selector("#tutor-video", "v => v.muted")
        await page.click("#interrupt")
        assert await page.eval_on_selector("#tutor-video", "v => v.muted")
        await page.wait_for_function(
            "window.vt.messages.some(m => m.type === 'turn' && m.event === 'interrupted')",
            timeout=30_000,
        )
        await page.fill("#text", QUESTION)
        await page.click("#send")
        await page.wait_for_function(f"{speaking}.length >= 3", timeout=60_000)
        assert not await page.eval_on_selector("#tutor-video", "v => v.muted")

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
