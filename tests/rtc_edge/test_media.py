"""An aiortc student relayed through a real coturn: speech in; video, audio, captions out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from rtc_edge.student_probe import StudentProbe
from rtc_edge.turn_server import CoturnServer
from tests.rtc_edge.conftest import (
    SESSION_ID,
    TOKEN,
    RunningEdge,
    RunningGatewayDouble,
    edge_settings,
    start_edge,
)
from tests.rtc_edge.scripted_gateway import ANSWER, QUESTION, ScriptedSession
from tests.support.speech import espeak_pcm, silence_pcm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BRIGHT = 150  # turn frames have luma 200, idle ones 30-39 (VP8 keeps them well apart)


async def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Waits until ``check()`` holds (a generous bound: CPU is shared with other tests)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def student(edge: RunningEdge) -> AsyncIterator[StudentProbe]:
    client = StudentProbe(edge.url, SESSION_ID, TOKEN)
    yield client
    await client.close()


async def test_spoken_question_gets_video_audio_and_captions_through_turn(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, student: StudentProbe
) -> None:
    speech = espeak_pcm("what is two plus two") + silence_pcm(1500)
    assert await student.connect(speech) == 200
    assert student.local_candidate_types() == {"relay"}  # forced through coturn

    received = student.received
    await eventually(lambda: any(m.get("event") == "completed" for m in received.texts("turn")))
    await eventually(lambda: any(y > BRIGHT for _, y in received.video[-5:]) is False)

    session = scripted_gateway.servicer.sessions[SESSION_ID]
    assert session.input_rate == 16000
    # The question arrived as 16 kHz mono: about as many bytes as the speech itself.
    assert session.audio_bytes >= len(espeak_pcm("what is two plus two")) * 0.8

    finals = [m for m in received.texts("transcript") if m["final"]]
    assert finals and finals[0]["text"] == QUESTION
    caption = "".join(m["delta"] for m in received.texts("assistant_text"))
    assert caption.strip() == ANSWER
    assert [m["state"] for m in received.texts("playback")][:2] == ["speaking", "listening"]

    # Idle loop before the answer, the answer's frames, then idle again.
    lumas = [y for _, y in received.video]
    first_bright = next(i for i, y in enumerate(lumas) if y > BRIGHT)
    assert first_bright > 0 and lumas[0] < 60
    bright = [y for y in lumas if y > BRIGHT]
    assert len(bright) >= 35  # 50 frames sent; the first few can be lost to keyframe waits
    assert lumas[-1] < 60

    # The answer's audio (a loud tone) arrived while its frames showed.
    loud = [t for t, peak in received.audio if peak > 3000]
    bright_times = [t for t, y in received.video if y > BRIGHT]
    assert len(loud) >= 60  # ~100 x 20 ms sent
    assert abs(loud[0] - bright_times[0]) < 0.5


async def test_interrupt_drops_queued_media_at_once(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, student: StudentProbe
) -> None:
    scripted_gateway.servicer.turn_frames = 250  # a 10 s answer
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    student.send({"type": "text", "text": "tell me a long story"})
    received = student.received
    await eventually(lambda: sum(y > BRIGHT for _, y in received.video) >= 10)

    student.send({"type": "interrupt"})
    await eventually(lambda: any(m.get("event") == "interrupted" for m in received.texts("turn")))
    (peer,) = edge.state.peers
    assert peer.playout.stats.dropped_on_interrupt > 0
    assert peer.playout.queued_video == 0
    await eventually(lambda: len(received.video) > 0 and received.video[-1][1] < 60)
    # The idle loop came back long before the 10 s answer would have ended.
    bright = sum(y > BRIGHT for _, y in received.video)
    assert bright < 150
    assert scripted_gateway.servicer.sessions[SESSION_ID].interrupts == 1


async def test_typed_text_reaches_the_gateway(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, student: StudentProbe
) -> None:
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    student.send({"type": "text", "text": "what is a prime number"})
    session = scripted_gateway.servicer.sessions[SESSION_ID]
    await eventually(lambda: session.texts == ["what is a prime number"])
    received = student.received
    await eventually(lambda: any(m.get("event") == "completed" for m in received.texts("turn")))


@pytest.mark.parametrize("how", ["close endpoint", "peer connection closed"])
async def test_a_leaving_peer_frees_its_resources(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, student: StudentProbe, how: str
) -> None:
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    session = scripted_gateway.servicer.sessions[SESSION_ID]
    assert session.live and len(edge.state.peers) == 1
    (peer,) = edge.state.peers
    if how == "close endpoint":
        assert await student.close_via_edge() == 200
    else:
        await student.close()  # no goodbye to the edge: DTLS/SCTP close is all it sees
    # Well inside aiortc's ~30 s consent timeout.
    await eventually(lambda: len(edge.state.peers) == 0 and not session.live, timeout_s=10)
    assert peer.closed and peer.pc.connectionState == "closed"
    assert peer.video_track.readyState == "ended" and peer.audio_track.readyState == "ended"
    assert session.streams_closed == 1


async def test_same_student_reconnecting_replaces_the_old_peer(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, student: StudentProbe
) -> None:
    assert await student.connect() == 200
    (first,) = edge.state.peers
    again = StudentProbe(edge.url, SESSION_ID, TOKEN)
    try:
        assert await again.connect() == 200
        (second,) = edge.state.peers
        assert second is not first and first.closed
        assert scripted_gateway.servicer.sessions[SESSION_ID].streams_opened == 2
    finally:
        await again.close()


async def test_max_peers_refuses_more(
    scripted_gateway: RunningGatewayDouble, coturn: CoturnServer
) -> None:
    scripted_gateway.servicer.sessions["s-2"] = ScriptedSession(token="other-token")
    settings = edge_settings(scripted_gateway.address, coturn, max_peers=1)
    async with start_edge(settings) as running:
        first = StudentProbe(running.url, SESSION_ID, TOKEN)
        second = StudentProbe(running.url, "s-2", "other-token")
        try:
            assert await first.connect() == 200
            assert await second.connect() == 503
            assert not scripted_gateway.servicer.sessions["s-2"].live
            assert await first.close_via_edge() == 200
            await eventually(lambda: len(running.state.peers) == 0, timeout_s=10)
            third = StudentProbe(running.url, "s-2", "other-token")
            assert await third.connect() == 200
            await third.close()
        finally:
            await first.close()
            await second.close()
