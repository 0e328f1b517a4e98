"""The deployment session store: Redis (``GATEWAY_SESSION_STORE=redis://host:port/db``).

Every gateway replica reads and writes the same keys, so a session created on one resumes on
another. Layout, under a prefix:

- ``s:<id>``: the session's hash (tutor profile as JSON, token digest in hex, times as ISO text);
- ``t:<id>``: its turns, a sorted set of JSON records scored by turn index;
- ``tenant:<tenant>``: its tenant's session ids scored by creation time (ListSessions);
- ``live``: ids of sessions that have not ended; ``ended``: the others scored by end time;
- ``i:<instance>``: a gateway's heartbeat, a key that expires.

Conditional updates run as one Lua script, so two replicas never both take a session over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from gateway.session_store.base import (
    SessionStore,
    StoredSession,
    check_fields,
)
from gateway.session_store.codec import (
    housekeeping_session,
    time_text,
    time_value,
    turn_from_json,
    turn_to_json,
    tutor_json,
)
from gateway.turn_records import TurnRecord

_NO_OWNER_CHECK = "\x00"

# KEYS: hash, live set, ended zset. ARGV: expected states ("," joined, "" = any), expected
# owner (NUL = any), end score, session id, then field/value pairs.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then
  local state = redis.call('HGET', KEYS[1], 'state')
  if not string.find(',' .. ARGV[1] .. ',', ',' .. state .. ',', 1, true) then return 0 end
end
if ARGV[2] ~= '\\0' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'state' then
    if ARGV[i + 1] == 'ready' or ARGV[i + 1] == 'connected' then
      redis.call('SADD', KEYS[2], ARGV[4])
      redis.call('ZREM', KEYS[3], ARGV[4])
    else
      redis.call('SREM', KEYS[2], ARGV[4])
      redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
    end
  end
end
return 1
"""

# KEYS: turns zset. ARGV: index, record. One record per index, replaced when written again.
_APPEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


# KEYS: live set; ARGV: the key prefix of session hashes. For each live session the fields
# housekeeping reads, in one reply (a pipeline of one HGETALL per session costs ~0.2 ms each).
# It reads keys it is not given, which a single Redis (not a cluster) allows.
_LIVE = """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'state', 'tenant_id', 'create_time',
    'expire_time', 'last_activity_time', 'owner', 'disconnect_time')
  if f[1] then
    table.insert(out, id)
    for i = 1, 7 do table.insert(out, f[i] or '') end
  end
end
return out
"""
_SWEEP_FIELDS = 8


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionStore(SessionStore):
    """Sessions in Redis.

    Args:
        url: A ``redis://`` (or ``rediss://``) URL.
        prefix: Prefix of every key.
    """

    def __init__(self, url: str, prefix: str = "vtutor:gateway:") -> None:
        self.url = url
        self.prefix = prefix
        self._redis = aioredis.from_url(url)
        self._update = self._redis.register_script(_UPDATE)
        self._append = self._redis.register_script(_APPEND)
        self._live = self._redis.register_script(_LIVE)

    def _key(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}:{name}" if name else f"{self.prefix}{kind}"

    def _hash(self, session: StoredSession) -> dict[Any, Any]:
        return {
            "session_id": session.session_id,
            "tenant_id": session.tenant_id,
            "student_id": session.student_id,
            "tutor": tutor_json(session.tutor),
            "engine_url": session.engine_url,
            "create_time": time_text(session.create_time),
            "expire_time": time_text(session.expire_time),
            "token_digest": session.token_digest.hex(),
            "state": session.state,
            "last_activity_time": time_text(session.last_activity_time),
            "owner": session.owner,
            "disconnect_time": time_text(session.disconnect_time),
            "end_time": time_text(session.end_time),
            "end_reason": session.end_reason,
        }

    @staticmethod
    def _row(fields: Mapping[Any, Any], turn_count: int) -> StoredSession:
        data = {_text(k): _text(v) for k, v in fields.items()}
        create_time = time_value(data["create_time"])
        expire_time = time_value(data["expire_time"])
        assert create_time is not None and expire_time is not None
        return StoredSession(
            session_id=data["session_id"],
            tenant_id=data["tenant_id"],
            student_id=data["student_id"],
            tutor=json.loads(data["tutor"]),
            engine_url=data["engine_url"],
            create_time=create_time,
            expire_time=expire_time,
            token_digest=bytes.fromhex(data["token_digest"]),
            state=data["state"],
            last_activity_time=time_value(data.get("last_activity_time")),
            owner=data.get("owner", ""),
            disconnect_time=time_value(data.get("disconnect_time")),
            end_time=time_value(data.get("end_time")),
            end_reason=data.get("end_reason", ""),
            turn_count=turn_count,
        )

    async def _load_many(self, session_ids: list[str]) -> list[StoredSession]:
        if not session_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.hgetall(self._key("s", session_id))
                pipe.zcard(self._key("t", session_id))
            replies = await pipe.execute()
        rows = []
        for fields, count in zip(replies[::2], replies[1::2], strict=True):
            if fields:
                rows.append(self._row(fields, int(count)))
        return rows

    async def create(self, session: StoredSession) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("s", session.session_id), mapping=self._hash(session))
            pipe.zadd(
                self._key("tenant", session.tenant_id),
                {session.session_id: session.create_time.timestamp()},
            )
            if session.live:
                pipe.sadd(self._key("live"), session.session_id)
            await pipe.execute()

    async def load(self, session_id: str) -> StoredSession | None:
        rows = await self._load_many([session_id])
        return rows[0] if rows else None

    async def update(
        self,
        session_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: frozenset[str] | None = None,
        expect_owner: str | None = None,
    ) -> bool:
        check_fields(changes)
        end_time = changes.get("end_time")
        end_score = end_time.timestamp() if isinstance(end_time, datetime) else time.time()
        args: list[str | float] = [
            ",".join(sorted(expect_state)) if expect_state is not None else "",
            expect_owner if expect_owner is not None else _NO_OWNER_CHECK,
            end_score,
            session_id,
        ]
        for name, value in changes.items():
            is_time = isinstance(value, datetime) or value is None
            args += [name, time_text(value) if is_time else value]
        keys = [self._key("s", session_id), self._key("live"), self._key("ended")]
        return bool(await self._update(keys=keys, args=args))

    async def append_turn(self, session_id: str, record: TurnRecord) -> None:
        await self._append(
            keys=[self._key("t", session_id)], args=[record.turn_index, turn_to_json(record)]
        )

    async def turns(self, session_id: str, start: int = 0) -> list[TurnRecord]:
        texts = await self._redis.zrangebyscore(self._key("t", session_id), start, "+inf")
        return [turn_from_json(_text(text)) for text in texts]

    async def list_tenant(
        self, tenant_id: str, offset: int, limit: int
    ) -> tuple[list[StoredSession], bool]:
        key = self._key("tenant", tenant_id)
        ids = [_text(i) for i in await self._redis.zrevrange(key, offset, offset + limit)]
        rows = await self._load_many(ids[:limit])
        return rows, len(ids) > limit

    async def live_sessions(self) -> list[StoredSession]:
        """Every live session, with the fields housekeeping reads (no tutor, no digest)."""
        reply = await self._live(keys=[self._key("live")], args=[f"{self.prefix}s:"])
        flat = [_text(v) for v in reply]
        rows = []
        for at in range(0, len(flat), _SWEEP_FIELDS):
            session_id, state, tenant, created, expires, active, owner, gone = flat[
                at : at + _SWEEP_FIELDS
            ]
            row = housekeeping_session(
                session_id, tenant, state, created, expires, active, owner, gone
            )
            if row is not None:
                rows.append(row)
        return rows

    async def purge_ended(self, before: datetime) -> int:
        ended = self._key("ended")
        ids = [_text(i) for i in await self._redis.zrangebyscore(ended, "-inf", before.timestamp())]
        if not ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hget(self._key("s", session_id), "tenant_id")
            tenant_ids = await pipe.execute()
        async with self._redis.pipeline(transaction=True) as pipe:
            for session_id, tenant_id in zip(ids, tenant_ids, strict=True):
                pipe.delete(self._key("s", session_id), self._key("t", session_id))
                if tenant_id is not None:
                    pipe.zrem(self._key("tenant", _text(tenant_id)), session_id)
                pipe.zrem(ended, session_id)
            await pipe.execute()
        return len(ids)

    async def heartbeat(self, instance_id: str, ttl_s: float) -> None:
        await self._redis.set(self._key("i", instance_id), "1", px=max(int(ttl_s * 1000), 1))

    async def alive(self, instance_id: str) -> bool:
        return bool(await self._redis.exists(self._key("i", instance_id)))

    async def close(self) -> None:
        await self._redis.aclose()
