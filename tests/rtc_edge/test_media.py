"""An aiortc student relayed through a real coturn, in front of the real gateway stack: speech
in; the real answer's video, audio and captions out, between idle frames; interrupt, text,
leaving, reconnecting and the peer limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from vtutor.gateway.v1 import admin_pb2, gateway_pb2

from loadtest.student_probe import StudentProbe
from loadtest.turn_server import CoturnServer
from rtc_edge import microphone
from rtc_edge.gateway_link import fetch_idle_frames
from tests.rtc_edge.conftest import (
    ANSWER,
    LONG_QUESTION,
    QUESTION,
    LiveSession,
    RunningEdge,
    create_live_session,
    edge_settings,
    session_state,
    start_edge,
)
from tests.support.real_stack import API_KEY, SERVICE_AUTH, RealStack
from tests.support.speech import espeak_pcm, silence_pcm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY = gateway_pb2.SESSION_STATE_READY
CONNECTED = gateway_pb2.SESSION_STATE_CONNECTED
LOUD = 1000  # peak of s16 audio: the tutor's speech, never the idle loop's silence


async def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Waits until ``check()`` holds (a generous bound: CPU is shared with other tests)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def eventually_state(stack: RealStack, session: LiveSession, state: int) -> None:
    """Waits until the gateway reports ``state`` for the session."""
    for _ in range(200):
        if await session_state(stack, session) == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"session never reached state {state}")


def turn_events(student: StudentProbe, event: str) -> list[dict[str, object]]:
    return [m for m in student.received.texts("turn") if m.get("event") == event]


def captions(student: StudentProbe) -> str:
    """The tutor's captions so far."""
    return "".join(str(m["delta"]) for m in student.received.texts("assistant_text"))


@pytest.fixture
async def student(edge: RunningEdge, live_session: LiveSession) -> AsyncIterator[StudentProbe]:
    client = StudentProbe(edge.url, live_session.session_id, live_session.token)
    yield client
    await client.close()


async def test_spoken_question_gets_video_audio_and_captions_through_turn(
    edge: RunningEdge, student: StudentProbe
) -> None:
    speech = espeak_pcm(QUESTION) + silence_pcm(1500)
    assert await student.connect(speech) == 200
    assert student.local_candidate_types() == {"relay"}  # forced through coturn
    (peer,) = edge.state.peers

    received = student.received
    await eventually(lambda: bool(turn_events(student, "completed")), timeout_s=90)
    await eventually(lambda: any(m.get("state") == "listening" for m in received.texts("playback")))
    playback = [
        (t, m["state"])
        for t, m in zip(received.message_times, received.messages, strict=True)
        if m.get("type") == "playback"
    ]
    assert [state for _, state in playback][:2] == ["speaking", "listening"]
    speaking, listening = playback[0][0], playback[1][0]
    # Idle frames keep coming after the answer.
    await eventually(lambda: sum(t > listening for t, _ in received.video) >= 10)
    assert not received.texts("error"), received.texts("error")

    # The microphone's silence went as Opus DTX (the edge's answer asked for it), and the
    # edge made the silence that ended the turn.
    assert student.microphone is not None and student.microphone.dtx
    assert student.microphone.dtx_packets >= 1
    (audio_receiver,) = [r for r in peer.pc.getReceivers() if r.track and r.track.kind == "audio"]
    assert getattr(audio_receiver, microphone._DECODER_QUEUE).dtx_packets >= 1

    # The ended turn says when the edge passed on its moments (hop_times), in order, on the
    # host's monotonic clock (the student's too): each before the student got what it sent.
    (completed,) = turn_events(student, "completed")
    edge_s = completed["edge_s"]
    order = [
        "speech_forwarded",
        "final_read",
        "final_sent",
        "first_frame_read",
        "first_frame_playing",
    ]
    assert sorted(edge_s) == sorted(order), edge_s
    times = [edge_s[name] for name in order]
    assert times == sorted(times), edge_s
    final_at = next(
        t
        for t, m in zip(received.message_times, received.messages, strict=True)
        if m.get("type") == "transcript" and m.get("final")
    )
    assert edge_s["final_sent"] <= final_at
    # And how long the answer paused mid-way, its media late: a number, never negative.
    assert isinstance(completed["stalled_ms"], float) and completed["stalled_ms"] >= 0
    assert edge_s["first_frame_playing"] <= speaking

    # The real ASR heard the question; the real LLM's answer came as captions.
    finals = [m for m in received.texts("transcript") if m["final"]]
    assert finals and finals[0]["text"] == QUESTION
    assert ANSWER in captions(student)

    # Idle loop before the answer, the answer's lip-synced frames, then idle again.
    before = [t for t, _ in received.video if t < speaking]
    during = [t for t, _ in received.video if speaking <= t <= listening]
    after = [t for t, _ in received.video if t > listening]
    assert len(before) >= 10 and len(during) >= 25 and len(after) >= 10
    assert peer.playout.stats.video_frames_played >= 25  # the answer's frames, played
    assert peer.playout.stats.idle_frames_played >= 20  # before and after it

    # The answer's audio (real TTS speech) arrived while its frames showed; silence around it.
    loud = [t for t, peak in received.audio if peak > LOUD]
    assert len(loud) >= 25  # at least half a second of 20 ms frames
    assert speaking - 0.5 <= loud[0] and loud[-1] <= listening + 0.5
    assert not [t for t, peak in received.audio if peak > LOUD and t < speaking - 0.5]


async def test_interrupt_drops_queued_media_at_once(
    edge: RunningEdge, student: StudentProbe
) -> None:
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    student.send({"type": "text", "text": LONG_QUESTION})  # a spoken answer of ~15 s
    (peer,) = edge.state.peers
    stats = peer.playout.stats
    await eventually(lambda: stats.video_frames_played >= 10, timeout_s=60)

    student.send({"type": "interrupt"})
    await eventually(lambda: bool(turn_events(student, "interrupted")))
    assert stats.dropped_on_interrupt > 0
    assert peer.playout.queued_video == 0
    # The idle loop plays again, and no more of the answer does.
    played, idle = stats.video_frames_played, stats.idle_frames_played
    await eventually(lambda: stats.idle_frames_played >= idle + 25)
    assert stats.video_frames_played <= played + 2  # at most what was being handed over
    assert not turn_events(student, "completed")


async def test_typed_text_reaches_the_gateway(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession, student: StudentProbe
) -> None:
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    student.send({"type": "text", "text": QUESTION})
    await eventually(lambda: ANSWER in captions(student), timeout_s=60)
    student.send({"type": "interrupt"})  # no need to hear all of it
    # The gateway recorded the turn with the typed text.
    async with real_stack.stub() as stub:
        call = stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(session_id=live_session.session_id),
            metadata=SERVICE_AUTH,
        )
        first = await asyncio.wait_for(call.read(), 10)
        call.cancel()
    assert first.turn.user_text == QUESTION


@pytest.mark.parametrize("how", ["close endpoint", "peer connection closed"])
async def test_a_leaving_peer_frees_its_resources(
    edge: RunningEdge,
    real_stack: RealStack,
    live_session: LiveSession,
    student: StudentProbe,
    how: str,
) -> None:
    assert await student.connect() == 200
    await asyncio.wait_for(student.channel_open.wait(), 20)
    assert await session_state(real_stack, live_session) == CONNECTED
    assert len(edge.state.peers) == 1
    (peer,) = edge.state.peers
    if how == "close endpoint":
        assert await student.close_via_edge() == 200
    else:
        await student.close()  # no goodbye to the edge: DTLS/SCTP close is all it sees
    # Well inside aiortc's ~30 s consent timeout.
    await eventually(lambda: len(edge.state.peers) == 0, timeout_s=10)
    await eventually_state(real_stack, live_session, READY)  # its Converse stream closed
    assert peer.closed and peer.pc.connectionState == "closed"
    assert peer.video_track.readyState == "ended" and peer.audio_track.readyState == "ended"


async def test_same_student_reconnecting_replaces_the_old_peer(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession, student: StudentProbe
) -> None:
    assert await student.connect() == 200
    (first,) = edge.state.peers
    again = StudentProbe(edge.url, live_session.session_id, live_session.token)
    try:
        # The gateway takes one Converse stream per session: the old one was closed first.
        assert await again.connect() == 200
        (second,) = edge.state.peers
        assert second is not first and first.closed
        assert await session_state(real_stack, live_session) == CONNECTED
        await asyncio.wait_for(again.channel_open.wait(), 20)
        again.send({"type": "text", "text": QUESTION})
        await eventually(lambda: ANSWER in captions(again), timeout_s=60)
    finally:
        await again.close()


async def test_max_peers_refuses_more(
    real_stack: RealStack, live_session: LiveSession, coturn: CoturnServer
) -> None:
    other = await create_live_session(real_stack, student="student-2")
    settings = edge_settings(real_stack.address, coturn, max_peers=1)
    async with start_edge(settings) as running:
        first = StudentProbe(running.url, live_session.session_id, live_session.token)
        second = StudentProbe(running.url, other.session_id, other.token)
        try:
            assert await first.connect() == 200
            assert await second.connect() == 503
            assert await session_state(real_stack, other) == READY  # never connected
            assert await first.close_via_edge() == 200
            await eventually(lambda: len(running.state.peers) == 0, timeout_s=10)
            third = StudentProbe(running.url, other.session_id, other.token)
            assert await third.connect() == 200
            await third.close()
        finally:
            await first.close()
            await second.close()


@pytest.mark.parametrize(("offered", "expected"), [(None, "h264"), (["vp8"], "vp8")])
async def test_h264_is_negotiated_first_and_vp8_with_a_peer_that_offers_only_vp8(
    edge: RunningEdge, student: StudentProbe, offered: list[str] | None, expected: str
) -> None:
    # aiortc offers VP8 before H.264: the edge's own order decides.
    video = {"width": 96, "height": 96, "fps": 25}
    assert await student.connect(video=video, video_codecs=offered) == 200
    assert student.codecs["video"] == expected
    (peer,) = edge.state.peers
    assert peer.video_track.settings.codec == expected
    await eventually(lambda: len(student.received.video) >= 15, timeout_s=30)
    assert peer.video_track.stats.turn_frames_encoded == 0  # listening: shared packets only


async def test_two_peers_share_one_encoded_idle_loop_and_both_decode_it(
    edge: RunningEdge, real_stack: RealStack, student: StudentProbe
) -> None:
    other_session = await create_live_session(real_stack, student="student-2")
    other = StudentProbe(edge.url, other_session.session_id, other_session.token)
    video = {"width": 128, "height": 128, "fps": 25}
    try:
        assert await student.connect(video=video) == 200
        assert await other.connect(video=video) == 200
        peers = list(edge.state.peers)
        await eventually(
            lambda: all(p.video_track.stats.idle_packets >= 30 for p in peers), timeout_s=30
        )
        # Both decoded the idle loop's pictures (not the grey still frame: luma 40).
        for probe in (student, other):
            await eventually(lambda p=probe: len(p.received.video) >= 25, timeout_s=30)  # type: ignore[misc]
            assert any(abs(luma - 40) > 2 for _, luma in probe.received.video[-10:])
        assert edge.state.idle_loops is not None and edge.state.idle_loops.encodes == 1
        assert all(p.video_track.stats.turn_frames_encoded == 0 for p in peers)
    finally:
        await other.close()


async def test_the_idle_loop_is_fetched_whole_so_it_plays_round_without_a_seam(
    real_stack: RealStack,
) -> None:
    async with real_stack.stub() as stub:
        reply = await stub.GetAvatar(
            admin_pb2.GetAvatarRequest(avatar_id=""), metadata=SERVICE_AUTH
        )
    period = reply.avatar.idle_frame_count * 25 // (reply.avatar.idle_fps or 25)
    assert period > 1
    async with grpc.aio.insecure_channel(real_stack.address) as channel:
        frames = await fetch_idle_frames(
            channel,
            "",
            credentials=[API_KEY],
            fps=25,
            width=64,
            height=64,
            max_frames=1000,
            timeout_s=30,
        )
        capped = await fetch_idle_frames(
            channel,
            "",
            credentials=[API_KEY],
            fps=25,
            width=64,
            height=64,
            max_frames=period - 1,
            timeout_s=30,
        )
    assert len(frames) == period  # one period: frame 0 follows the last one as in the loop
    assert len(capped) == period - 1
