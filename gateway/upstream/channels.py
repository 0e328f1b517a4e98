"""Upstream gRPC channels: keepalive, fast reconnect, readiness checks and error mapping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Generic, TypeVar

import grpc

from gateway.config import GatewaySettings
from svc_core.errors import ServiceError, status_for


class UpstreamError(ServiceError):
    """An upstream call failed: the stage, and the status code the client should see."""

    def __init__(self, stage: str, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(f"{stage}: {detail}", code=code)
        self.stage = stage
        self.detail = detail

    @classmethod
    def wrap(cls, stage: str, exc: BaseException) -> UpstreamError:
        """The UpstreamError for any exception raised while talking to ``stage``."""
        if isinstance(exc, UpstreamError):
            return exc
        if isinstance(exc, grpc.aio.AioRpcError):
            return cls(stage, exc.code(), exc.details() or exc.code().name)
        code, message = status_for(exc)
        return cls(stage, code, message)


def channel_options(settings: GatewaySettings) -> list[tuple[str, Any]]:
    """Options shared by every upstream channel."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Keepalive finds a dead upstream during a long ASR stream that carries no responses.
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # gRPC's default backoff grows to 120 s; a restarted upstream must be used again soon.
        ("grpc.initial_reconnect_backoff_ms", settings.reconnect_backoff_min_ms),
        ("grpc.min_reconnect_backoff_ms", settings.reconnect_backoff_min_ms),
        ("grpc.max_reconnect_backoff_ms", settings.reconnect_backoff_max_ms),
        ("grpc.enable_retries", 0),
        # With a dns:/// target naming a headless service (deploy/k8s), spread streams over
        # every replica the name resolves to; with one address this changes nothing.
        ("grpc.lb_policy_name", "round_robin"),
    ]


def open_channel(
    address: str, settings: GatewaySettings, interceptors: Sequence[Any] = ()
) -> grpc.aio.Channel:
    """An insecure channel to ``address`` (loopback or a private network)."""
    return grpc.aio.insecure_channel(
        address, options=channel_options(settings), interceptors=list(interceptors) or None
    )


class Upstream:
    """A named channel with its deadlines; the base of every upstream client."""

    stage = "upstream"

    def __init__(self, channel: grpc.aio.Channel, address: str, settings: GatewaySettings) -> None:
        self.channel = channel
        self.address = address
        self.settings = settings

    async def ensure_ready(self) -> None:
        """Waits until the channel is connected, at most the connect timeout.

        A call on a channel in reconnect backoff fails at once; waiting here for readiness (with
        a bound) lets the first turn after an upstream restart succeed instead.

        Raises:
            UpstreamError: UNAVAILABLE when the upstream cannot be reached in time.
        """
        deadline = time.monotonic() + self.settings.upstream_connect_timeout_s
        state = self.channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or state == grpc.ChannelConnectivity.SHUTDOWN:
                raise UpstreamError(
                    self.stage,
                    grpc.StatusCode.UNAVAILABLE,
                    f"{self.stage} service at {self.address} is unreachable",
                )
            try:
                await asyncio.wait_for(self.channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                continue
            state = self.channel.get_state(try_to_connect=True)

    async def unary(self, rpc: Any, request: Any, *, timeout_s: float | None = None) -> Any:
        """Calls a unary RPC of this upstream with the admin deadline.

        Raises:
            UpstreamError: The upstream is unreachable or answered with an error status.
        """
        await self.ensure_ready()
        try:
            return await rpc(request, timeout=timeout_s or self.settings.admin_timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise UpstreamError.wrap(self.stage, exc) from exc


T = TypeVar("T")


class ResponseStream(Generic[T]):
    """The responses of one upstream streaming call, converted to plain values.

    Iterate it once. Errors come out as UpstreamError naming the stage. Leaving the iteration
    early (a barge-in cancels the task reading it) cancels the gRPC call, which reaches the
    upstream as a cancellation (RST_STREAM) so it stops working on the turn. ``outcome`` says
    how the call ended: "open", "completed", "failed" or "cancelled".
    """

    def __init__(
        self,
        stage: str,
        call: Any,
        convert: Callable[[Any], T | None],
        *,
        first_timeout_s: float | None = None,
        what: str = "response",
    ) -> None:
        self.stage = stage
        self.call = call
        self.outcome = "open"
        self._convert = convert
        self._first_timeout_s = first_timeout_s
        self._what = what

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _next(self, responses: AsyncIterator[Any], first: bool) -> Any:
        if not first or self._first_timeout_s is None:
            return await anext(responses)
        try:
            # Not asyncio.wait_for: on Python 3.11 it returns the response instead of raising
            # when the task is cancelled just as the response comes (gh-86296), and a discarded
            # turn's stage then ran on, holding its session's speech events for STOP_WAIT_S.
            async with asyncio.timeout(self._first_timeout_s):
                return await anext(responses)
        except TimeoutError:
            self.call.cancel()  # the upstream stops working on a turn that failed
            raise UpstreamError(
                self.stage,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no {self._what} within {self._first_timeout_s:g} s",
            ) from None

    async def _iterate(self) -> AsyncIterator[T]:
        responses = aiter(self.call)
        first = True
        try:
            while True:
                try:
                    message = await self._next(responses, first)
                except StopAsyncIteration:
                    self.outcome = "completed"
                    return
                first = False
                value = self._convert(message)
                if value is not None:
                    yield value
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            self.outcome = "failed"
            raise UpstreamError.wrap(self.stage, exc) from exc
        finally:
            if self.outcome == "open":
                self.call.cancel()
                self.outcome = "cancelled"

    def cancel(self) -> None:
        """Cancels the call (no effect once it has ended)."""
        if self.outcome == "open":
            self.call.cancel()
            self.outcome = "cancelled"
