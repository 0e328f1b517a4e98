"""Calling a gRPC server again while it is briefly away (a restart, a rollout): bounded backoff.

A gateway restart answers UNAVAILABLE for the seconds it takes to come back (and, for a session
another replica still holds, until that replica's heartbeat lapses). Clients wrap the calls
that open or resume a conversation in ``retry_unavailable`` so a student does not notice more
than a pause; any other status, or the last attempt's, goes to the caller unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
# How a stream that was open fails when its server is killed: UNAVAILABLE, or, when a write
# was in flight, INTERNAL "Internal error from Core" from gRPC's core.
BROKEN_STREAM = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL})


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, bounded in attempts.

    Attributes:
        attempts: Calls in all (the first included).
        initial_s: The first wait.
        max_s: The longest single wait.
        multiplier: Growth of the wait per attempt.
    """

    attempts: int = 8
    initial_s: float = 0.2
    max_s: float = 3.0
    multiplier: float = 2.0

    def delays(self) -> Iterator[float]:
        """The waits between attempts (``attempts - 1`` of them)."""
        delay = self.initial_s
        for _ in range(self.attempts - 1):
            # Jitter spreads the clients of a restarted server over time.
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * self.multiplier, self.max_s)


def retryable(error: BaseException, codes: frozenset[grpc.StatusCode] = RETRYABLE) -> bool:
    """Whether ``error`` is a gRPC failure worth another attempt (its code is in ``codes``)."""
    code = getattr(error, "code", None)
    return isinstance(error, grpc.RpcError) and callable(code) and code() in codes


async def retry_unavailable(
    call: Callable[[], Awaitable[T]],
    backoff: Backoff = Backoff(),
    *,
    what: str = "call",
    codes: frozenset[grpc.StatusCode] = RETRYABLE,
) -> T:
    """``await call()``, again after a wait each time it fails with UNAVAILABLE (or ``codes``).

    Raises:
        grpc.RpcError: A status that is not retried, or the last attempt's.
    """
    delays = backoff.delays()
    while True:
        try:
            return await call()
        except grpc.RpcError as error:
            delay = next(delays, None)
            if not retryable(error, codes) or delay is None:
                raise
            logger.info("%s: server unavailable, trying again in %.1f s", what, delay)
            await asyncio.sleep(delay)
