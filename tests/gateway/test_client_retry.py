"""Clients' retry while the gateway restarts: UNAVAILABLE is tried again with a growing,
bounded backoff; any other status at once (svc_core.retry, used by rtc_edge, loadtest and
gateway.cli)."""

from __future__ import annotations

import grpc
import pytest

from svc_core.retry import Backoff, retry_unavailable

pytestmark = pytest.mark.unit

FAST = Backoff(attempts=4, initial_s=0.001, max_s=0.004)


def _error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "x", "")


async def test_unavailable_is_tried_again_until_it_works():
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _error(grpc.StatusCode.UNAVAILABLE)
        return "ok"

    assert await retry_unavailable(flaky, FAST) == "ok"
    assert len(calls) == 3


async def test_tries_are_bounded_and_other_statuses_are_not_retried():
    calls: list[grpc.StatusCode] = []

    def failing(code: grpc.StatusCode):
        async def call() -> None:
            calls.append(code)
            raise _error(code)

        return call

    with pytest.raises(grpc.aio.AioRpcError) as down:
        await retry_unavailable(failing(grpc.StatusCode.UNAVAILABLE), FAST)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE and len(calls) == FAST.attempts
    calls.clear()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await retry_unavailable(failing(grpc.StatusCode.UNAUTHENTICATED), FAST)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and len(calls) == 1


def test_backoff_grows_to_its_bound_with_jitter():
    delays = list(Backoff(attempts=7, initial_s=0.2, max_s=1.0).delays())
    assert len(delays) == 6
    ceilings = [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
