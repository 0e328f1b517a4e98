"""A TEST DOUBLE of the Hugging Face hub's HTTP API (listing and ``resolve`` downloads).

A real HTTP server on a loopback port serving in-memory repositories, with ``Range`` support
and two faults to order: drop the connection part way through a file, or serve bytes that do
not match the published checksum.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

LFS_THRESHOLD = 1024  # files at least this big are "LFS" files with a sha256, as on the hub


@dataclass
class HubStandIn:
    """Repositories ``{repo: {path: bytes}}`` served on 127.0.0.1."""

    repos: dict[str, dict[str, bytes]]
    #: Drop the connection after this many bytes of a file, once per path listed.
    drop_after: dict[str, int] = field(default_factory=dict)
    #: Paths served with one byte flipped (the listing keeps the true checksum).
    corrupt: set[str] = field(default_factory=set)
    #: (path, Range header or "") of every file request.
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def listing(self, repo: str) -> dict:
        siblings = []
        for path, data in self.repos[repo].items():
            blob_id = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
            entry: dict = {"rfilename": path, "size": len(data), "blobId": blob_id}
            if len(data) >= LFS_THRESHOLD:
                entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            siblings.append(entry)
        return {"id": repo, "siblings": siblings}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = unquote(urlparse(self.path).path)
                if path.startswith("/api/models/"):
                    repo = path.removeprefix("/api/models/").split("/revision/")[0]
                    if repo not in hub.repos:
                        return self._send(404, b'{"error": "Repository not found"}')
                    return self._send(200, json.dumps(hub.listing(repo)).encode())
                for repo, files in hub.repos.items():
                    prefix = f"/{repo}/resolve/"
                    if path.startswith(prefix):
                        name = path.removeprefix(prefix).split("/", 1)[1]
                        if name in files:
                            return self._file(name, files[name])
                self._send(404, b"not found")

            def _file(self, name: str, data: bytes) -> None:
                header = self.headers.get("Range", "")
                hub.requests.append((name, header))
                if name in hub.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start = int(header.removeprefix("bytes=").split("-")[0]) if header else 0
                body = data[start:]
                self.send_response(206 if header else 200)
                self.send_header("Content-Length", str(len(body)))
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                cut = hub.drop_after.pop(name, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
