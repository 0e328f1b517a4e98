"""Helpers for the config-first streaming convention of every bidi RPC.

A streaming request is ``oneof { Config config; <payload> }``: the first message must be the
config, later ones payload. ``split_config`` enforces that with INVALID_ARGUMENT errors that say
what was expected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from svc_core.errors import InvalidArgument

M = TypeVar("M")


async def split_config(
    requests: AsyncIterator[M], *, oneof: str, config_field: str = "config"
) -> tuple[Any, AsyncIterator[M]]:
    """Reads the first message of a request stream, which must carry the config.

    Args:
        requests: The request iterator the servicer received.
        oneof: Name of the request's oneof, for example ``"streaming_request"``.
        config_field: Name of the config field inside the oneof.

    Returns:
        The config message, and an iterator over the remaining requests that raises
        InvalidArgument if a later message carries a config again.

    Raises:
        InvalidArgument: The stream was empty or began with something else.
    """
    iterator = aiter(requests)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        raise InvalidArgument(
            f"empty stream: the first message must set '{config_field}'"
        ) from None
    kind = first.WhichOneof(oneof)  # type: ignore[attr-defined]
    if kind != config_field:
        got = f"'{kind}'" if kind else "an empty message"
        raise InvalidArgument(f"the first message must set '{config_field}', got {got}")

    async def rest() -> AsyncIterator[M]:
        async for message in iterator:
            kind = message.WhichOneof(oneof)  # type: ignore[attr-defined]
            if kind == config_field:
                raise InvalidArgument(f"'{config_field}' may only be sent in the first message")
            if kind is None:
                raise InvalidArgument(f"empty message: set one of the fields of '{oneof}'")
            yield message

    return getattr(first, config_field), rest()
