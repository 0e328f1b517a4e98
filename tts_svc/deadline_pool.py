"""Blocking inference work run earliest deadline first, on threads shared by every stream.

A FIFO pool serves streams in the order their work arrived: on a busy host a new answer's
first audio waited behind other answers' later sentences, once for each of its runs (the
10-student load test: ~0.3 s per run at the median, 1.4 s from text to first audio). Here each
job carries the time its listener needs its output (its *deadline*) and idle workers take the
earliest one; a job a listener is already waiting for (``waiting``: a stream's first audio)
comes before every other, and ``reserved`` workers run only such jobs, so first audio never
waits for a long job of another stream to finish.

Jobs are not preempted: a job started runs to its end. ``run`` is the asyncio side: cancelling
the awaiting task drops the job if it has not started.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(order=True)
class _Job:
    # Waiting jobs first (False sorts before True), then by deadline, then in arrival order.
    not_waiting: bool
    deadline: float
    sequence: int
    function: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


class DeadlinePool:
    """Worker threads that take the job with the earliest deadline.

    Args:
        workers: Threads that run any job.
        reserved: Further threads that run only jobs a listener is waiting for.
        name: Thread name prefix.
        nice: Linux nice value of every thread (0: as the process); threads of bulk work run
            niced so that, on a busy host, they yield the CPU to what is late.
    """

    def __init__(self, workers: int, *, reserved: int = 0, name: str, nice: int = 0) -> None:
        if workers < 1 or reserved < 0:
            raise ValueError("at least one worker, and no negative reserve")
        self._jobs: list[_Job] = []
        self._lock = threading.Condition()
        self._sequence = itertools.count()
        self._closed = False
        self._nice = nice
        self._threads = [
            threading.Thread(
                target=self._work, args=(index >= workers,), name=f"{name}-{index}", daemon=True
            )
            for index in range(workers + reserved)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, deadline: float, function: Callable[..., _T], *args: Any, waiting: bool = False
    ) -> Future[_T]:
        """Queues ``function(*args)``; ``deadline`` on any one clock the caller uses for all
        its jobs (``time.monotonic()``).

        Raises:
            RuntimeError: The pool is shut down.
        """
        future: Future[_T] = Future()
        job = _Job(
            not waiting,
            deadline,
            next(self._sequence),
            functools.partial(function, *args),
            future,
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            heapq.heappush(self._jobs, job)
            # Every thread may be the one that can take it (a reserved one takes only some).
            self._lock.notify_all()
        return future

    async def run(
        self, deadline: float, function: Callable[..., _T], *args: Any, waiting: bool = False
    ) -> _T:
        """``submit`` and await the result; cancelling the caller drops a job not yet started."""
        return await asyncio.wrap_future(self.submit(deadline, function, *args, waiting=waiting))

    @property
    def pending(self) -> int:
        """Jobs queued, not yet started."""
        with self._lock:
            return len(self._jobs)

    def shutdown(self) -> None:
        """Cancels the queued jobs; threads end after the job they are running."""
        with self._lock:
            self._closed = True
            jobs, self._jobs = self._jobs, []
            self._lock.notify_all()
        for job in jobs:
            job.future.cancel()

    def _next_job(self, reserved: bool) -> _Job | None:
        with self._lock:
            while True:
                if self._closed:
                    return None
                if self._jobs and (not reserved or not self._jobs[0].not_waiting):
                    return heapq.heappop(self._jobs)
                self._lock.wait()

    def _work(self, reserved: bool) -> None:
        if self._nice:
            try:  # Linux: nice is per thread
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except (OSError, AttributeError) as exc:
                logger.debug("pool thread keeps its priority: %s", exc)
        while (job := self._next_job(reserved)) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                result = job.function()
            except BaseException as exc:  # handed to the awaiting caller
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
