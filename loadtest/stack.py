"""``--spawn-stack``: the services, the gateway and (for WebRTC) coturn and the edge as children.

Every process listens on a free loopback port and inherits this process's environment, so
``OTEL_*`` settings reach them all. Logs go to files in a temporary directory, named in errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from loadtest.turn_server import CoturnServer, free_port
from svc_core.healthcheck import is_serving

ROOT = Path(__file__).resolve().parent.parent
UPSTREAMS = {"asr": "asr_svc", "llm": "llm_svc", "tts": "tts_svc", "lipsync": "lipsync_svc"}


class ChildProcess:
    """A ``python -m <package>`` child with its log in ``workdir``."""

    def __init__(self, package: str, env: dict[str, str], workdir: Path) -> None:
        self.name = package
        self.log = workdir / f"{package}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", package],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until(self, ready: Callable[[], bool], timeout_s: float) -> None:
        """Waits for ``ready()``.

        Raises:
            RuntimeError: The process exited or was not ready in time (with its log's end).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready in {timeout_s:g} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the child's log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class LocalStack:
    """The whole stack on loopback.

    Args:
        api_key: The gateway's service credential.
        webrtc: Also start coturn and the rtc_edge.
        gateway_env: Extra gateway settings (``GATEWAY_*``).
        log_level: Log level of every service.
        env: Extra environment of every child (``OTEL_*`` settings, for example).
        start_gateway: False: start only the four services (see ``addresses``), for a gateway
            in the caller's process.
        gateway_address: Use this running gateway; start neither the services nor a gateway.
    """

    def __init__(
        self,
        api_key: str,
        *,
        webrtc: bool = False,
        gateway_env: dict[str, str] | None = None,
        log_level: str = "WARNING",
        env: dict[str, str] | None = None,
        start_gateway: bool = True,
        gateway_address: str | None = None,
    ) -> None:
        if webrtc and not (start_gateway or gateway_address):
            raise ValueError("the rtc_edge needs a gateway")
        self.api_key = api_key
        self.env = env or {}
        self.webrtc = webrtc
        self.gateway_env = gateway_env or {}
        self.log_level = log_level
        self.start_gateway = start_gateway
        self.workdir = Path(tempfile.mkdtemp(prefix="loadtest-stack-"))
        self.children: list[ChildProcess] = []
        self.coturn: CoturnServer | None = None
        self.addresses: dict[str, str] = {}
        self.gateway_address = gateway_address or ""
        self.edge: ChildProcess | None = None
        self.edge_url = ""
        # The spawned gateway's Prometheus endpoint (its speculation counters); "" when the
        # environment already chose a metrics exporter.
        self.gateway_metrics_url = ""

    def start(self, timeout_s: float = 120.0) -> None:
        """Starts everything and waits until each part is ready; stops all on failure."""
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout_s: float) -> None:
        if not self.gateway_address:
            self._start_services(timeout_s)
        if self.webrtc:
            self._start_edge(timeout_s)

    def _start_services(self, timeout_s: float) -> None:
        upstreams: list[tuple[ChildProcess, str]] = []
        for stage, package in UPSTREAMS.items():
            prefix = package.removesuffix("_svc").upper() + "_"
            port = free_port()
            env = {
                f"{prefix}HOST": "127.0.0.1",
                f"{prefix}PORT": str(port),
                f"{prefix}DATA_DIR": str(self.workdir / package),
                f"{prefix}LOG_LEVEL": self.log_level,
            }
            if package == "llm_svc":
                # Simulated students ask school questions of a tutor without a knowledge base,
                # as `make dev` does: the demo knowledge base answers them (issue 16).
                env["LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE"] = "demo"
            child = ChildProcess(package, {**self.env, **env}, self.workdir)
            self.children.append(child)
            self.addresses[stage] = f"127.0.0.1:{port}"
            upstreams.append((child, self.addresses[stage]))
        for child, address in upstreams:  # started together, waited for in turn
            child.wait_until(lambda a=address: is_serving(a, timeout_s=1), timeout_s)  # type: ignore[misc]
        if not self.start_gateway:
            return
        port = free_port()
        env = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_API_KEY": self.api_key,
            "GATEWAY_DATA_DIR": str(self.workdir / "gateway"),
            "GATEWAY_LOG_LEVEL": self.log_level,
            "GATEWAY_MAX_SESSIONS": "1000",
            **{f"GATEWAY_{stage.upper()}_ADDRESS": a for stage, a in self.addresses.items()},
            **self.gateway_env,
        }
        if not (self.env.get("OTEL_METRICS_EXPORTER") or os.environ.get("OTEL_METRICS_EXPORTER")):
            metrics_port = free_port()
            env["OTEL_METRICS_EXPORTER"] = "prometheus"
            env["OTEL_EXPORTER_PROMETHEUS_HOST"] = "127.0.0.1"
            env["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(metrics_port)
            self.gateway_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        gateway = ChildProcess("gateway", {**self.env, **env}, self.workdir)
        self.children.append(gateway)
        self.gateway_address = f"127.0.0.1:{port}"
        gateway.wait_until(lambda: is_serving(self.gateway_address, timeout_s=1), timeout_s)

    def _start_edge(self, timeout_s: float) -> None:
        self.coturn = CoturnServer()
        self.coturn.start()
        port = free_port()
        env = {
            "RTC_HOST": "127.0.0.1",
            "RTC_PORT": str(port),
            "RTC_GATEWAY_ADDRESS": self.gateway_address,
            "RTC_GATEWAY_API_KEY": self.api_key,
            "RTC_TURN_SECRET": self.coturn.secret,
            "RTC_TURN_URLS": self.coturn.url,
            "RTC_HOST_CANDIDATE_IP": "127.0.0.1",
            "RTC_LOG_LEVEL": self.log_level,
            "RTC_DATA_DIR": str(self.workdir / "rtc_edge"),
        }
        self.edge = edge = ChildProcess("rtc_edge", {**self.env, **env}, self.workdir)
        self.children.append(edge)
        self.edge_url = f"http://127.0.0.1:{port}"
        edge.wait_until(lambda: _http_ok(f"{self.edge_url}/health"), timeout_s)

    def processes(self) -> dict[str, list[int]]:
        """The stack's process ids by service name (for CPU accounting)."""
        out = {child.name: [child.process.pid] for child in self.children}
        turn = self.coturn.process if self.coturn is not None else None
        if turn is not None:
            out["coturn"] = [turn.pid]
        return out

    def stop(self) -> None:
        """Stops every child, newest first."""
        for child in reversed(self.children):
            child.stop()
        if self.coturn is not None:
            self.coturn.stop()
