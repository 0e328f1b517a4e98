"""DeadlinePool: earliest deadline first, a waiting listener's job before all, reserved workers
for those jobs only, cancellation of queued jobs, errors, niced threads (issue 20)."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import CancelledError

import pytest

from tts_svc.deadline_pool import DeadlinePool

pytestmark = pytest.mark.unit

LIVENESS_S = 10  # only a bound on a hang, never a measure of speed


def blocker(pool: DeadlinePool) -> tuple[threading.Event, threading.Event]:
    """Occupies one worker until the returned ``release`` is set; ``started`` once it runs."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(LIVENESS_S)

    pool.submit(0.0, hold)
    assert started.wait(LIVENESS_S)
    return started, release


def test_jobs_run_earliest_deadline_first_and_waiting_jobs_before_all() -> None:
    pool = DeadlinePool(1, name="test")
    try:
        _, release = blocker(pool)
        order: list[str] = []
        futures = [
            pool.submit(deadline, order.append, name, waiting=waiting)
            for deadline, name, waiting in [
                (3.0, "due third", False),
                (1.0, "due first", False),
                (9.0, "listener waiting", True),
                (2.0, "due second", False),
                (1.0, "due first, came later", False),
            ]
        ]
        release.set()
        for future in futures:
            future.result(LIVENESS_S)
        assert order == [
            "listener waiting",
            "due first",
            "due first, came later",
            "due second",
            "due third",
        ]
    finally:
        pool.shutdown()


def test_a_reserved_worker_runs_waiting_jobs_only() -> None:
    pool = DeadlinePool(1, reserved=1, name="test")
    try:
        _, release = blocker(pool)  # the one general worker is busy
        bulk = pool.submit(0.0, lambda: "bulk")
        waiting = pool.submit(5.0, lambda: "first audio", waiting=True)
        # The reserved worker serves the waiting job although the general one is busy...
        assert waiting.result(LIVENESS_S) == "first audio"
        # ...and leaves the other job queued for the general worker.
        assert not bulk.done() and pool.pending == 1
        release.set()
        assert bulk.result(LIVENESS_S) == "bulk"
    finally:
        pool.shutdown()


async def test_cancelling_the_caller_drops_a_job_that_has_not_started() -> None:
    pool = DeadlinePool(1, name="test")
    try:
        _, release = blocker(pool)
        ran: list[str] = []
        task = asyncio.create_task(pool.run(1.0, ran.append, "cancelled"))
        await asyncio.sleep(0)  # the job is queued
        assert pool.pending == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await asyncio.wait_for(pool.run(2.0, ran.append, "later"), LIVENESS_S)
        assert ran == ["later"]
    finally:
        pool.shutdown()


async def test_errors_reach_the_caller() -> None:
    pool = DeadlinePool(1, name="test")
    try:

        def fail() -> None:
            raise ValueError("bad input")

        with pytest.raises(ValueError, match="bad input"):
            await asyncio.wait_for(pool.run(0.0, fail), LIVENESS_S)
        assert await asyncio.wait_for(pool.run(0.0, lambda: 7), LIVENESS_S) == 7  # still serves
    finally:
        pool.shutdown()


def test_shutdown_cancels_queued_jobs_and_refuses_new_ones() -> None:
    pool = DeadlinePool(1, name="test")
    _, release = blocker(pool)
    queued = pool.submit(1.0, lambda: None)
    pool.shutdown()
    release.set()
    with pytest.raises(CancelledError):
        queued.result(LIVENESS_S)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(1.0, lambda: None)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Linux nice values")
def test_threads_of_bulk_work_run_niced() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    niced = DeadlinePool(1, name="bulk", nice=5)
    plain = DeadlinePool(1, name="plain")

    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    try:
        assert niced.submit(0.0, own_nice).result(LIVENESS_S) == min(19, base + 5)
        assert plain.submit(0.0, own_nice).result(LIVENESS_S) == base
    finally:
        niced.shutdown()
        plain.shutdown()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        DeadlinePool(0, name="test")
    with pytest.raises(ValueError):
        DeadlinePool(1, reserved=-1, name="test")
