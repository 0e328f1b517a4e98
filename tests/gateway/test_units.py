"""Pure logic of the gateway: heard text, playback accounting, tokens, credentials, settings."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.auth import ServiceCredential, bearer_token
from gateway.config import GatewaySettings
from gateway.events import AssistantTextOut, AudioOut, FrameOut
from gateway.heard_text import heard_text
from gateway.playback import Playback
from gateway.proto_mapping import converse_response
from gateway.sessions import SessionRegistry, TutorProfile
from gateway.speech_input import ASR_MERGE_BYTES
from gateway.upstream.lipsync_client import AnimatedFrame
from gateway.upstream.tts_client import SpokenSegment, SpokenWord
from svc_core.audio import NONE_TAKEN, join_queued_chunks
from svc_core.errors import FailedPrecondition, ResourceExhausted, Unauthenticated

pytestmark = pytest.mark.unit

SEGMENTS = [
    SpokenSegment(
        0,
        "Plants make food.",
        0,
        1200,
        (SpokenWord("Plants", 0, 400), SpokenWord("make", 400, 800), SpokenWord("food", 800, 1200)),
    ),
    SpokenSegment(
        1,
        "They use sunlight, water and air.",
        1200,
        3000,
        (
            SpokenWord("They", 1200, 1500),
            SpokenWord("use", 1500, 1800),
            SpokenWord("sunlight", 1800, 2400),
            SpokenWord("water", 2400, 2700),
        ),
    ),
]


@pytest.mark.parametrize(
    ("heard_ms", "expected"),
    [
        (0, ""),
        (399, ""),
        (400, "Plants"),
        (1250, "Plants make food."),
        (2000, "Plants make food. They use"),
        (5000, "Plants make food. They use sunlight, water and air."),
    ],
)
def test_heard_text_keeps_whole_segments_and_finished_words(heard_ms, expected):
    assert heard_text(SEGMENTS, heard_ms) == expected


def test_heard_text_ignores_speech_without_a_mark():
    # Only the first segment's mark arrived; later audio cannot be credited.
    assert heard_text(SEGMENTS[:1], 5000) == "Plants make food."


class _Metadata:
    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.pairs


def test_bearer_credentials():
    assert bearer_token(_Metadata(("authorization", "Bearer abc"))) == "abc"
    assert bearer_token(_Metadata(("Authorization", "bearer  abc "))) == "abc"
    for bad in [
        _Metadata(),
        _Metadata(("authorization", "Basic abc")),
        _Metadata(("authorization", "Bearer ")),
    ]:
        with pytest.raises(Unauthenticated):
            bearer_token(bad)
    credential = ServiceCredential("key")
    credential.require(_Metadata(("authorization", "Bearer key")))
    with pytest.raises(Unauthenticated):
        credential.require(_Metadata(("authorization", "Bearer kez")))
    with pytest.raises(ValueError):
        ServiceCredential("")


def test_playback_counts_what_was_played():
    playback = Playback(16000)
    assert playback.heard_ms(time.monotonic()) == 0
    start = 100.0
    playback.sent(pts_us=0, samples=16000, now=start)  # one second handed over
    # Playback cannot run ahead of the clock, nor past what was sent.
    assert playback.heard_ms(start + 0.25) == 250
    assert playback.heard_ms(start + 5) == 1000
    assert playback.last_sent == start


def test_pacing_holds_media_to_the_lead():
    playback = Playback(16000)
    assert playback.due_at(0, lead_s=0.1) is None  # the first piece goes at once
    playback.sent(pts_us=5_000_000, samples=160, now=10.0)
    # 150 ms later on the media timeline with a 100 ms lead: due 50 ms after the first.
    due = playback.due_at(5_150_000, lead_s=0.1)
    assert due is not None and abs(due - 10.05) < 1e-9
    assert playback.due_at(5_150_000, lead_s=0) is None  # no lead: as fast as it comes


def test_registry_tokens_are_bound_to_their_session_and_limits_hold():
    registry = SessionRegistry(
        max_sessions=2, idle_timeout_s=60, default_ttl_s=60, ended_retention_s=60
    )
    first, token = registry.create(
        tenant_id="t", student_id="s", tutor=TutorProfile(), engine_url="x"
    )
    second, other = registry.create(
        tenant_id="t", student_id="s", tutor=TutorProfile(), engine_url="x"
    )
    assert token != other and len(token) >= 43
    assert token not in repr(first)  # only a digest is kept
    with pytest.raises(ResourceExhausted):
        registry.create(tenant_id="t", student_id="s", tutor=TutorProfile(), engine_url="x")
    assert registry.authorize_converse(first.session_id, token) is first
    with pytest.raises(Unauthenticated):
        registry.authorize_converse(first.session_id, other)
    with pytest.raises(Unauthenticated):
        registry.authorize_converse("unknown", token)
    registry.connect(first)
    with pytest.raises(FailedPrecondition):
        registry.authorize_converse(first.session_id, token)
    # The token itself stays valid while its stream is open (CheckEngineToken).
    assert registry.check_token(first.session_id, token) is first
    with pytest.raises(Unauthenticated):
        registry.check_token(first.session_id, other)
    registry.end(second.session_id)
    with pytest.raises(Unauthenticated):
        registry.authorize_converse(second.session_id, other)
    with pytest.raises(Unauthenticated):
        registry.check_token(second.session_id, other)
    assert second.closed.is_set()


def test_settings_defaults_and_prefix(monkeypatch):
    monkeypatch.setenv("GATEWAY_LLM_ADDRESS", "llm:1")
    monkeypatch.setenv("GATEWAY_PUBLIC_ADDRESS", "gw.example:443")
    settings = GatewaySettings()
    assert settings.port == 50051
    assert settings.asr_address == "127.0.0.1:50052"
    assert settings.tts_address == "127.0.0.1:50054"
    assert settings.lipsync_address == "127.0.0.1:50055"
    assert settings.llm_address == "llm:1"
    assert settings.engine_url(50051) == "gw.example:443"


def test_audio_and_frames_carry_their_turn_id_on_the_wire():
    registry = SessionRegistry(
        max_sessions=1, idle_timeout_s=60, default_ttl_s=60, ended_retention_s=60
    )
    session, _ = registry.create(
        tenant_id="t", student_id="s", tutor=TutorProfile(), engine_url="x"
    )
    audio = converse_response(
        AudioOut("turn-a", b"\x00\x00" * 320, 40_000, 16000), session, send_text=True
    )
    frame = AnimatedFrame(0, 8, 8, 1, b"\x80" * 96, b"\x00\x00" * 640, 0, 16000)
    media = converse_response(FrameOut("turn-b", frame, 80_000), session, send_text=True)
    text = converse_response(AssistantTextOut("turn-a", "Hi"), session, send_text=True)
    assert audio is not None and audio.turn_id == "turn-a" and audio.audio.pts_us == 40_000
    assert (
        media is not None and media.turn_id == "turn-b" and media.media_frame.video.pts_us == 80_000
    )
    assert text is not None and text.turn_id == ""  # captions name their turn inside


async def test_audio_queued_behind_a_busy_asr_stream_goes_as_one_message_in_order():
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    chunks = [bytes([n]) * 640 for n in range(40)]  # 40 x 20 ms at 16 kHz
    for chunk in chunks[1:]:
        queue.put_nowait(chunk)
    queue.put_nowait(None)
    sent = []
    merged, taken = join_queued_chunks(queue, chunks[0], max_bytes=ASR_MERGE_BYTES)
    sent.append(merged)
    while taken is NONE_TAKEN:
        next_chunk = await queue.get()
        assert next_chunk is not None
        merged, taken = join_queued_chunks(queue, next_chunk, max_bytes=ASR_MERGE_BYTES)
        sent.append(merged)
    assert taken is None  # the end of the audio, taken out behind the last chunk
    assert b"".join(sent) == b"".join(chunks)  # the same audio, in order
    assert all(len(m) <= ASR_MERGE_BYTES + 640 for m in sent) and len(sent) == 2
    # Nothing queued: the chunk goes alone, at once.
    assert join_queued_chunks(asyncio.Queue(), chunks[0], max_bytes=ASR_MERGE_BYTES) == (
        chunks[0],
        NONE_TAKEN,
    )
