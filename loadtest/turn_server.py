"""coturn as a child process with deploy/coturn/dev.conf's settings on free ports (tests, bench)."""

from __future__ import annotations

import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SECRET = "test-turn-secret"  # loopback-only servers: not a credential worth protecting


def free_port() -> int:
    """A port on 127.0.0.1 free for TCP and UDP a moment ago."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


# Relay ports per server: every WebRTC student allocates a relay, and so does the edge for
# its peer (with 20 ports, 2 to 4 of 10 load-test students never connected: "error 508 Cannot
# create socket").
RELAY_PORTS = 200


def _relay_range() -> tuple[int, int]:
    # A random block, so parallel test runs rarely collide.
    start = random.randrange(40000, 60000, RELAY_PORTS)
    return start, start + RELAY_PORTS - 1


class CoturnServer:
    """A turnserver child process on loopback with TURN REST credentials."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.port = free_port()
        self.min_port, self.max_port = _relay_range()
        self.dir = Path(tempfile.mkdtemp(prefix="coturn-"))
        self.log_path = self.dir / "turn.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The TURN URL browsers and aiortc use."""
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def config(self) -> str:
        """The configuration file's text (dev.conf's settings, these ports and secret)."""
        return "\n".join(
            [
                "listening-ip=127.0.0.1",
                "relay-ip=127.0.0.1",
                f"listening-port={self.port}",
                f"min-port={self.min_port}",
                f"max-port={self.max_port}",
                "allow-loopback-peers",
                "use-auth-secret",
                f"static-auth-secret={self.secret}",
                "realm=vtutor.local",
                "fingerprint",
                "no-cli",
                "no-tls",
                "no-dtls",
                "no-multicast-peers",
                f"pidfile={self.dir / 'turn.pid'}",
                f"log-file={self.log_path}",
                "simple-log",
                "",
            ]
        )

    def start(self, timeout_s: float = 15.0) -> None:
        """Starts coturn and waits until it accepts TCP on its port (UDP opens with it)."""
        conf = self.dir / "turn.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen(
            ["turnserver", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited:\n{self.log_tail()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    time.sleep(0.2)  # UDP listeners come up with the TCP one; be generous
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stops coturn."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of coturn's log (its file name may get a date suffix)."""
        logs = sorted(self.dir.glob("turn*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)[-chars:]
