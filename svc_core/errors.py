"""Service errors and their gRPC status codes.

Engines and servicers raise ``ServiceError`` subclasses; ``ErrorMappingInterceptor``
(svc_core.interceptor) turns every exception that escapes a handler into a status with a clear
message, so a client never sees a bare exception and a bug never takes the server down.
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """An error with the gRPC status code it should reach the client as."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(ServiceError):
    """Bad input: wrong message order, bad format, out-of-range values."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    """Unknown avatar, session, model or knowledge base."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    """An id that is already taken."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(ServiceError):
    """Missing, bad or expired credential."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    """A valid caller reaching for another tenant's data."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(ServiceError):
    """Session, stream or size limits."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ServiceError):
    """The request is valid but the system is not in a state to serve it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServiceError):
    """An engine or upstream is down or unreachable."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """An engine or upstream took too long."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client should get for ``exc``."""
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if isinstance(exc, grpc.aio.AioRpcError):
        # An upstream call failed: pass its status on, naming it as upstream's.
        return exc.code(), f"upstream: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "timed out"
    if isinstance(exc, ConnectionError):
        return grpc.StatusCode.UNAVAILABLE, f"connection failed: {exc}"
    return grpc.StatusCode.INTERNAL, "internal error (see the service log)"
