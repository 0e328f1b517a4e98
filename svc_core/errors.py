"""Service errors and their gRPC status codes.

Engines and servicers raise ``ServiceError`` subclasses; ``ErrorMappingInterceptor`` turns
every exception that escapes a handler into a status with a clear message, so a client never
sees a bare exception and a bug never takes the server down.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

logger = logging.getLogger(__name__)


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


async def _abort_for(exc: BaseException, context: grpc.aio.ServicerContext, method: str) -> None:
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        logger.exception("unhandled error in %s", method, exc_info=exc)
    else:
        logger.info("%s failed: %s %s", method, code.name, message)
    await context.abort(code, message)


def _is_abort(exc: BaseException) -> bool:
    # context.abort() raises AbortError to end the call, and a cancelled call raises
    # CancelledError: both must pass through untouched.
    return isinstance(exc, asyncio.CancelledError | grpc.aio.AbortError | GeneratorExit)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions escaping any handler (unary or streaming) to gRPC statuses."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary or handler.stream_unary:
            behavior: Any = handler.unary_unary or handler.stream_unary

            async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    if _is_abort(exc):
                        raise
                    await _abort_for(exc, context, method)

            factory = (
                grpc.unary_unary_rpc_method_handler
                if handler.unary_unary
                else grpc.stream_unary_rpc_method_handler
            )
            return factory(
                unary_response,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

        stream_behavior: Any = handler.unary_stream or handler.stream_stream

        async def stream_response(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            try:
                result = stream_behavior(request, context)
                if inspect.isawaitable(result):
                    # A handler written with context.write() rather than as a generator.
                    await result
                    return
                async for response in result:
                    yield response
            except BaseException as exc:
                if _is_abort(exc):
                    raise
                await _abort_for(exc, context, method)

        stream_factory = (
            grpc.unary_stream_rpc_method_handler
            if handler.unary_stream
            else grpc.stream_stream_rpc_method_handler
        )
        return stream_factory(
            stream_response,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
