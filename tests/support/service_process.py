"""Services as real child processes on loopback, for tests that need the real stack.

Each ``ServiceProcess`` runs ``python -m <package>`` (or a given script) on a port picked here
(a service started with port 0 cannot tell us its port), waits for health SERVING, and can be
killed and started again on the same port (the "upstream dies mid-turn" tests). Its output goes
to a log file the tests can read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]

# Settings every test process of a package gets, before the test's own. The real-stack tests
# ask the embedded LLM school questions without a knowledge base, as `make dev` and the `talk`
# example do, so llm_svc answers them from its demo knowledge base (issue 16: without this
# opt-in a tutor with no knowledge base says it has no notes yet).
DEFAULT_ENV = {"llm_svc": {"LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE": "demo"}}

# package -> env prefix
SERVICES = {
    "asr_svc": "ASR_",
    "llm_svc": "LLM_",
    "tts_svc": "TTS_",
    "lipsync_svc": "LIPSYNC_",
    "gateway": "GATEWAY_",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """One inference service as a child process.

    Args:
        package: ``asr_svc``, ``llm_svc``, ``tts_svc``, ``lipsync_svc`` or ``gateway`` (or any
            name, with ``prefix`` and ``argv``).
        env: Extra environment (settings of the service).
        prefix: Its settings' environment prefix (default: the package's own).
        argv: Arguments after the interpreter (default: ``-m <package>``).
    """

    def __init__(
        self,
        package: str,
        env: dict[str, str] | None = None,
        *,
        prefix: str | None = None,
        argv: list[str] | None = None,
    ) -> None:
        self.package = package
        self.prefix = prefix if prefix is not None else SERVICES[package]
        self.argv = argv or ["-m", package]
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix=f"gw-{package}-")
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(self.data_dir) / "service.log"

    @property
    def address(self) -> str:
        """host:port of the service."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> None:
        """Starts the process and waits until its health says SERVING.

        Raises:
            RuntimeError: It exited or did not become healthy in time (its log is included).
        """
        self.spawn()
        self.wait_serving(timeout_s)

    def spawn(self) -> None:
        """Starts the process without waiting (start several, then ``wait_serving`` each)."""
        # Settings of the service come from here alone, never from the caller's environment.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(self.prefix)}
        env = {
            **inherited,
            "PYTHONPATH": str(REPO_ROOT),
            f"{self.prefix}HOST": "127.0.0.1",
            f"{self.prefix}PORT": str(self.port),
            f"{self.prefix}DATA_DIR": self.data_dir,
            f"{self.prefix}GRACE_PERIOD_S": "0",
            **DEFAULT_ENV.get(self.package, {}),
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *self.argv], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )
        log.close()

    def wait_serving(self, timeout_s: float = 90.0) -> None:
        """Waits until a spawned process's health says SERVING.

        Raises:
            RuntimeError: It exited or did not become healthy in time (its log is included).
        """
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.package} exited at start:\n{self.log_tail()}")
            if self.serving():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.package} did not become healthy:\n{self.log_tail()}")

    def serving(self) -> bool:
        """Whether health reports SERVING right now."""
        with grpc.insecure_channel(self.address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1.0
                )
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def kill(self) -> None:
        """Kills the process at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stops the process gracefully (SIGTERM), killing it if it lingers.

        Returns:
            Its exit status (negative: killed by that signal), None if it never ran.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_text(self) -> str:
        """Everything the service has logged so far."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the service's log."""
        return self.log_text()[-chars:]
