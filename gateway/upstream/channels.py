"""Upstream gRPC channels: keepalive, fast reconnect, readiness checks and error mapping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import grpc

from gateway.config import GatewaySettings
from svc_core.errors import DeadlineExceeded, ServiceError, Unavailable, status_for


class UpstreamError(Exception):
    """An upstream call failed; carries the stage and the status the client should see."""

    def __init__(self, stage: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{stage}: {code.name} {message}")
        self.stage = stage
        self.code = code
        self.message = message

    @classmethod
    def wrap(cls, stage: str, exc: BaseException) -> UpstreamError:
        """The UpstreamError for any exception raised while talking to ``stage``."""
        if isinstance(exc, UpstreamError):
            return exc
        if isinstance(exc, grpc.aio.AioRpcError):
            return cls(stage, exc.code(), exc.details() or exc.code().name)
        code, message = status_for(exc)
        return cls(stage, code, message)

    def as_service_error(self) -> ServiceError:
        """The same failure as a ServiceError, for unary pass-through RPCs."""
        return ServiceError(f"{self.stage}: {self.message}", code=self.code)


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

    async def first(self, awaitable: Any, what: str) -> Any:
        """Awaits the first response of a stream within the first-response deadline."""
        try:
            return await asyncio.wait_for(awaitable, self.settings.first_response_timeout_s)
        except TimeoutError:
            raise UpstreamError(
                self.stage,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no {what} within {self.settings.first_response_timeout_s:g} s",
            ) from None


def unavailable(stage: str, address: str) -> Unavailable:
    """The error for an upstream that is not configured or reachable."""
    return Unavailable(f"{stage} service at {address} is unreachable")


__all__ = ["DeadlineExceeded", "Upstream", "UpstreamError", "channel_options", "open_channel"]
