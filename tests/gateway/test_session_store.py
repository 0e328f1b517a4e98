"""The session stores (SQLite file, real redis-server) under the registry: restart, takeover,
expiry, what is kept of a token, concurrent appends (issue 21 item 1)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.app import build_gateway
from gateway.session_store.base import SessionStore
from gateway.session_store.redis import RedisSessionStore
from gateway.session_store.sqlite import SqliteSessionStore
from gateway.sessions import SessionRegistry, SessionState, TutorProfile
from gateway.turn_records import TurnOutcome, TurnRecord, TurnTimings
from svc_core.errors import FailedPrecondition, Unauthenticated, Unavailable
from svc_core.server import StartupError
from tests.gateway.conftest import gateway_settings
from tests.support.real_stack import closed_address
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

TUTOR = TutorProfile(tutor_id="t1", system_prompt="Teach.", phrase_hints=("photosynthesis",))

StoreFactory = Callable[[], SessionStore]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens handles on one store, as gateway processes sharing it would."""
    if request.param == "sqlite":
        yield lambda: SqliteSessionStore(tmp_path / "sessions.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"test-{uuid.uuid4().hex}:"  # each test its own keys
        yield lambda: RedisSessionStore(server.url, prefix=prefix)


@pytest.fixture
async def registries(open_store: StoreFactory) -> AsyncIterator[Callable[..., SessionRegistry]]:
    made: list[SessionRegistry] = []

    def make(instance_id: str = "gw-a", **settings: float) -> SessionRegistry:
        values: dict[str, float] = {
            "max_sessions": 100,
            "idle_timeout_s": 60,
            "default_ttl_s": 600,
            "ended_retention_s": 60,
        }
        values.update(settings)
        registry = SessionRegistry(
            store=open_store(),
            instance_id=instance_id,
            **values,  # type: ignore[arg-type]
        )
        made.append(registry)
        return registry

    yield make
    for registry in made:
        await registry.close()


def turn(text: str, answer: str) -> TurnRecord:
    return TurnRecord(
        turn_id=uuid.uuid4().hex,
        turn_index=0,
        user_text=text,
        assistant_text=answer,
        outcome=TurnOutcome.COMPLETED,
        timings=TurnTimings(first_token_us=5, end_us=9),
        start_time=datetime.now(UTC),
        upstream_outcomes={"llm": "completed"},
    )


async def test_a_restarted_gateway_resumes_the_session_with_its_history(registries):
    first = registries("gw-a")
    session, token = await first.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="gw:1"
    )
    live = await first.open_stream(session.session_id, token)
    await first.add_turn(live, turn("What is photosynthesis?", "Plants use sunlight."))
    await first.add_turn(live, turn("Why?", "To make sugar."))
    # The process dies here: no disconnect, no close. The same replica comes back.
    restarted = registries("gw-a")
    with pytest.raises(Unauthenticated):
        await restarted.open_stream(session.session_id, "x" * 43)
    resumed = await restarted.open_stream(session.session_id, token)
    assert resumed.tutor == TUTOR
    assert [t.user_text for t in resumed.turns] == ["What is photosynthesis?", "Why?"]
    assert resumed.turns[1].timings.end_us == 9 and resumed.turns[1].turn_index == 1
    assert [m.content for m in resumed.history(10)][:2] == [
        "What is photosynthesis?",
        "Plants use sunlight.",
    ]
    # A second stream on the same gateway is still refused.
    with pytest.raises(FailedPrecondition):
        await restarted.open_stream(session.session_id, token)
    await restarted.add_turn(resumed, turn("And at night?", "They rest."))
    assert (await restarted.fetch(session.session_id)).turn_count == 3


async def test_another_gateway_takes_a_stream_over_only_when_its_gateway_is_gone(registries):
    a = registries("gw-a", instance_ttl_s=0.3)
    b = registries("gw-b")
    session, token = await a.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="gw:1"
    )
    await a.sweep_store()  # heartbeat
    await a.open_stream(session.session_id, token)
    with pytest.raises(Unavailable):
        await b.open_stream(session.session_id, token)
    await asyncio.sleep(0.5)  # gw-a stops beating: it died
    taken = await b.open_stream(session.session_id, token)
    assert taken.state is SessionState.CONNECTED
    assert (await b.store.load(session.session_id)).owner == "gw-b"  # type: ignore[union-attr]


async def test_token_lifetime_idle_timeout_and_leaving_end_sessions(registries):
    registry = registries("gw-a", idle_timeout_s=0.6, disconnect_grace_s=0.2)
    short, _ = await registry.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x", ttl_s=1
    )
    idle, _ = await registry.create_session(
        tenant_id="school", student_id="s2", tutor=TUTOR, engine_url="x"
    )
    left, token = await registry.create_session(
        tenant_id="school", student_id="s3", tutor=TUTOR, engine_url="x"
    )
    await registry.open_stream(left.session_id, token)
    registry.disconnect(left)
    await asyncio.sleep(0.3)
    await registry.sweep_store()
    assert left.state is SessionState.ENDED and left.end_reason == "left" and left.closed.is_set()
    assert idle.live and short.live
    await asyncio.sleep(0.8)
    await registry.sweep_store()
    stored_idle = await registry.store.load(idle.session_id)  # type: ignore[union-attr]
    assert stored_idle is not None and (stored_idle.state, stored_idle.end_reason) == (
        "expired",
        "idle",
    )
    assert idle.closed.is_set() and not short.live
    assert (await registry.fetch(short.session_id)).state is SessionState.EXPIRED
    # Gone from the store once retention has passed.
    registry.ended_retention_s = 0
    await asyncio.sleep(0.01)
    await registry.sweep_store()
    assert await registry.store.load(left.session_id) is None  # type: ignore[union-attr]


async def test_only_a_digest_of_the_token_is_stored(registries, open_store, tmp_path):
    registry = registries("gw-a")
    session, token = await registry.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x"
    )
    row = await registry.store.load(session.session_id)  # type: ignore[union-attr]
    assert row is not None and row.token_digest == hashlib.sha256(token.encode()).digest()
    assert token not in repr(row)
    store = registry.store
    if isinstance(store, SqliteSessionStore):
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("sessions.sqlite3*"))
        assert session.session_id.encode() in raw  # the file was read, the row is in it
    else:
        assert isinstance(store, RedisSessionStore)
        client = store._redis  # read every key the store wrote
        values = [
            str(await client.hgetall(k))
            async for k in client.scan_iter(f"{store.prefix}*")
            if (await client.type(k)) == b"hash"
        ]
        raw = "".join(values).encode()
        assert session.session_id.encode() in raw
    assert token.encode() not in raw


async def test_concurrent_appends_keep_every_turn_in_order(registries):
    a = registries("gw-a")
    b = registries("gw-b")
    one, token_one = await a.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x"
    )
    two, token_two = await b.create_session(
        tenant_id="school", student_id="s2", tutor=TUTOR, engine_url="x"
    )
    first = await a.open_stream(one.session_id, token_one)
    second = await b.open_stream(two.session_id, token_two)
    await asyncio.gather(
        *(a.add_turn(first, turn(f"question {i}", f"answer {i}")) for i in range(40)),
        *(b.add_turn(second, turn(f"other {i}", f"reply {i}")) for i in range(40)),
    )
    for registry, session, word in ((a, one, "question"), (b, two, "other")):
        stored = await registry.store.turns(session.session_id)  # type: ignore[union-attr]
        assert [t.turn_index for t in stored] == list(range(40))
        assert [t.user_text for t in stored] == [f"{word} {i}" for i in range(40)]
        assert (await registry.store.turns(session.session_id, 38))[0].turn_index == 38  # type: ignore[union-attr]


async def test_tenant_listing_pages_newest_first_across_gateways(registries):
    a = registries("gw-a")
    b = registries("gw-b")
    ids = []
    for index in range(5):
        registry = a if index % 2 else b
        session, _ = await registry.create_session(
            tenant_id="school", student_id=f"s{index}", tutor=TUTOR, engine_url="x"
        )
        ids.append(session.session_id)
        await asyncio.sleep(0.002)
    await a.create_session(tenant_id="other", student_id="s", tutor=TUTOR, engine_url="x")
    page, token = await a.list("school", page_size=3)
    rest, end = await a.list("school", page_size=3, page_token=token)
    assert [s.session_id for s in page + rest] == ids[::-1] and end == ""


async def test_a_store_that_cannot_be_used_stops_the_gateway_at_start(tmp_path):
    with pytest.raises(StartupError, match="names no session store"):
        build_gateway(gateway_settings(session_store="mysql://x"))
    _, _, startup, shutdown = build_gateway(
        gateway_settings(session_store=f"redis://{closed_address()}/0")
    )
    with pytest.raises(StartupError, match=r"session store \(redis://.*cannot be used"):
        await startup()
    await shutdown()
    # The embedded default needs nothing but its folder.
    _, _, startup, shutdown = build_gateway(gateway_settings(data_dir=tmp_path / "gw"))
    await startup()
    await shutdown()
    assert (tmp_path / "gw" / "sessions.sqlite3").exists()


async def test_a_quick_reconnect_stays_connected_and_a_sweep_does_not_free_it(registries):
    registry = registries("gw-a", disconnect_grace_s=30)
    session, token = await registry.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x"
    )
    registry.disconnect(await registry.open_stream(session.session_id, token))
    again, _ = await asyncio.gather(
        registry.open_stream(session.session_id, token), registry.sweep_store()
    )
    await registry.sweep_store()
    await asyncio.sleep(0.05)  # writes scheduled by disconnect have landed
    row = await registry.store.load(session.session_id)  # type: ignore[union-attr]
    assert row is not None and (row.state, row.owner) == ("connected", "gw-a")
    assert again.live and not again.closed.is_set()


async def test_ending_a_session_on_another_gateway_closes_its_stream_here(registries):
    a = registries("gw-a")
    b = registries("gw-b")
    session, token = await a.create_session(
        tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x"
    )
    streaming = await a.open_stream(session.session_id, token)
    ended = await b.end_session(session.session_id)
    assert ended.state is SessionState.ENDED and not streaming.closed.is_set()
    await a.sweep_store()  # gw-a learns it on its next round
    assert streaming.closed.is_set() and streaming.state is SessionState.ENDED
    with pytest.raises(Unauthenticated):
        await a.authenticate(session.session_id, token)


async def test_a_session_created_while_a_sweep_reads_the_store_stays_live(registries):
    # The sweep's picture of the store predates the new session: it must not read the session's
    # absence from that picture as "ended elsewhere" (a student's stream closed at once).
    registry = registries("gw-a")
    store = registry.store
    read_live = store.live_sessions
    made = []

    async def live_sessions_then_a_new_session():
        rows = await read_live()
        made.append(
            await registry.create_session(
                tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x"
            )
        )
        return rows

    store.live_sessions = live_sessions_then_a_new_session
    await registry.sweep_store()
    ((session, token),) = made
    assert session.live and not session.closed.is_set()
    assert (await registry.open_stream(session.session_id, token)) is session


async def test_a_session_still_being_written_survives_a_sweep(registries):
    registry = registries("gw-a")
    store = registry.store
    write = store.create
    sweep_done = asyncio.Event()

    async def create_after_the_sweep(row):
        await sweep_done.wait()
        await write(row)

    store.create = create_after_the_sweep
    creating = asyncio.create_task(
        registry.create_session(tenant_id="school", student_id="s1", tutor=TUTOR, engine_url="x")
    )
    await asyncio.sleep(0.01)  # the session is in memory, its row not yet in the store
    await registry.sweep_store()
    sweep_done.set()
    session, token = await creating
    assert session.live and not session.closed.is_set()
    assert (await registry.open_stream(session.session_id, token)) is session
