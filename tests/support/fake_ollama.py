"""FakeOllamaServer: a TEST DOUBLE of Ollama's HTTP API. The service never imports it.

Only the tests and the benchmark (``python -m benchmarks.llm_svc``, run from the repository
root) use it.

It is a real HTTP/1.1 server on a loopback port, written on asyncio streams so the tests see
exactly what happens on the wire: ``/api/chat`` streams NDJSON chunks (chunked transfer
encoding, one line per token) with configurable delays, ``/api/tags`` lists its models, an
unknown model is a 404 with Ollama's error body. It records the chat requests it got and
notices a client that disconnects in the middle of a reply (``disconnected``), which is how
the tests prove that cancelling a gRPC call closes the HTTP stream.

Run it alone with ``python -m tests.support.fake_ollama --port 11434``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_REPLY = ("Hello", "!", " I", " am", " a", " fake", " model", ".")

Reply = Sequence[str] | Callable[[dict[str, Any]], Sequence[str]]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


@dataclass(frozen=True)
class FakeModel:
    """A model the fake server has "pulled"."""

    name: str
    size: int = 2_019_393_189
    family: str = "llama"
    parameter_size: str = "3.2B"

    def tag(self) -> dict[str, Any]:
        """The model as /api/tags lists it."""
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": self.size,
            "digest": "0" * 64,
            "details": {
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": "Q4_K_M",
            },
        }


def numbered_reply(tokens: int) -> list[str]:
    """A reply of ``tokens`` pieces: " w0", " w1", ..."""
    return [f" w{i}" for i in range(tokens)]


def _full_name(name: str) -> str:
    # Ollama resolves a name without a tag to ":latest".
    return name if ":" in name else f"{name}:latest"


class FakeOllamaServer:
    """A fake Ollama server for tests and the benchmark.

    Args:
        models: Names of the models it has; others get a 404.
        reply: The pieces every chat reply streams, or a function of the request body
            returning them.
        first_token_delay_s: Pause before the first piece (prompt processing).
        token_delay_s: Pause before each later piece.
        drop_after: Close the connection abruptly after this many pieces (a crashing server).
        host: Address to listen on.
        port: Port to listen on (0 picks a free one).
    """

    def __init__(
        self,
        *,
        models: Sequence[str | FakeModel] = ("llama3.2:3b",),
        reply: Reply = DEFAULT_REPLY,
        first_token_delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        drop_after: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.models = [m if isinstance(m, FakeModel) else FakeModel(m) for m in models]
        #: Names that /api/pull can fetch (then listed among the models); others fail.
        self.pullable: list[str] = []
        self.reply = reply
        self.first_token_delay_s = first_token_delay_s
        self.token_delay_s = token_delay_s
        self.drop_after = drop_after
        self.host = host
        self.port = port
        #: Bodies of the /api/chat requests received, in order.
        self.chat_requests: list[dict[str, Any]] = []
        self.streams_started = 0
        self.streams_completed = 0
        #: Streams whose client went away before the reply was complete.
        self.disconnects = 0
        #: Set when a client disconnects in the middle of a streamed reply.
        self.disconnected = asyncio.Event()
        #: Monotonic time of the last such disconnect.
        self.last_disconnect_at: float | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping = False

    @property
    def url(self) -> str:
        """Base URL to give an Ollama client."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeOllamaServer:
        self._stopping = False
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stops listening and drops every open connection (as a crashed server would)."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        # Aborting the sockets ends each connection's handler through its own error path.
        for writer in self._connections.values():
            writer.transport.abort()
        if self._connections:
            await asyncio.wait(list(self._connections))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeOllamaServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- HTTP ---

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                keep_open = await self._respond(method, path, body, reader, writer)
                if not keep_open or headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(
        self,
        method: str,
        path: str,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answers one request; returns whether the connection can serve another."""
        if path in ("/", "/api/version"):
            text = "Ollama is running" if path == "/" else json.dumps({"version": "0.0.0-fake"})
            await _send(writer, 200, text.encode())
            return True
        if path == "/api/tags" and method == "GET":
            await _send_json(writer, 200, {"models": [m.tag() for m in self.models]})
            return True
        if path == "/api/pull" and method == "POST":
            return await self._pull(json.loads(body or b"{}"), writer)
        if path != "/api/chat":
            await _send(writer, 404, b"404 page not found", "text/plain")
            return True
        if method != "POST":
            await _send(writer, 405, b"405 method not allowed", "text/plain")
            return True
        try:
            chat = json.loads(body)
        except ValueError:
            await _send_json(writer, 400, {"error": "invalid JSON body"})
            return True
        self.chat_requests.append(chat)
        model = str(chat.get("model", ""))
        if _full_name(model) not in {_full_name(m.name) for m in self.models}:
            error = f'model "{model}" not found, try pulling it first'
            await _send_json(writer, 404, {"error": error})
            return True
        pieces = list(self.reply(chat) if callable(self.reply) else self.reply)
        limit = (chat.get("options") or {}).get("num_predict")
        length = isinstance(limit, int) and 0 <= limit < len(pieces)
        if length:
            pieces = pieces[:limit]
        messages = chat.get("messages") or []
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        final = {
            "model": model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length" if length else "stop",
            "total_duration": 1,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 1,
            "eval_count": len(pieces),
            "eval_duration": 1,
        }
        if chat.get("stream") is False:
            final["message"]["content"] = "".join(pieces)  # type: ignore[index]
            await _send_json(writer, 200, final)
            return True
        return await self._stream_chat(model, pieces, final, reader, writer)

    async def _stream_chat(
        self,
        model: str,
        pieces: list[str],
        final: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        self.streams_started += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        # The client sends nothing while it reads a reply, so reading here returns only at
        # EOF: the client has gone away.
        gone = asyncio.ensure_future(reader.read(1))
        try:
            for index, piece in enumerate(pieces):
                delay = self.first_token_delay_s if index == 0 else self.token_delay_s
                if delay > 0:
                    await asyncio.wait({gone}, timeout=delay)
                if gone.done():
                    self._note_disconnect()
                    return False
                if self.drop_after is not None and index >= self.drop_after:
                    writer.transport.abort()
                    return False
                chunk = {
                    "model": model,
                    "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
                await _write_chunk(writer, chunk)
            await _write_chunk(writer, final)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            self._note_disconnect()
            return False
        finally:
            gone.cancel()
            # Wait for the cancelled read to let go of the reader before the next request.
            await asyncio.wait({gone})
        self.streams_completed += 1
        return True

    async def _pull(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        """``/api/pull``: streams Ollama's progress lines; models in ``pullable`` succeed."""
        name = _full_name(str(request.get("model", "")))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await _write_chunk(writer, {"status": "pulling manifest"})
        if name not in {_full_name(m) for m in self.pullable}:
            await _write_chunk(writer, {"error": "pull model manifest: file does not exist"})
        else:
            total = 3 * 1024 * 1024
            for completed in (0, total // 2, total):
                digest = "sha256:" + "ab" * 32
                line = {"status": "pulling", "digest": digest, "total": total}
                await _write_chunk(writer, {**line, "completed": completed})
            await _write_chunk(writer, {"status": "verifying sha256 digest"})
            # Listed before "success" is sent, as Ollama does: the client may look at once.
            self.models.append(FakeModel(name))
            await _write_chunk(writer, {"status": "success"})
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _note_disconnect(self) -> None:
        if self._stopping:  # the server dropped the connection, not the client
            return
        self.disconnects += 1
        self.last_disconnect_at = time.monotonic()
        self.disconnected.set()


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    """Method, path, headers (lower-case names) and body; None at a clean end of connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, target.split("?", 1)[0], headers, body


async def _send(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = "application/json"
) -> None:
    writer.write(
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _send_json(writer: asyncio.StreamWriter, status: int, content: object) -> None:
    await _send(writer, status, json.dumps(content).encode())


async def _write_chunk(writer: asyncio.StreamWriter, content: object) -> None:
    line = json.dumps(content).encode() + b"\n"
    writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
    await writer.drain()


async def _main(args: argparse.Namespace) -> None:
    server = FakeOllamaServer(
        models=args.model or ["llama3.2:3b"],
        reply=numbered_reply(args.tokens) if args.tokens else DEFAULT_REPLY,
        first_token_delay_s=args.first_token_delay_ms / 1000,
        token_delay_s=args.token_delay_ms / 1000,
        host=args.host,
        port=args.port,
    )
    await server.start()
    print(f"FakeOllamaServer listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Ollama server (a test double).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", help="a model it has (repeatable)")
    parser.add_argument("--tokens", type=int, default=0, help="reply length (0: a short reply)")
    parser.add_argument("--first-token-delay-ms", type=float, default=0.0)
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
