"""`make dev`: runs every service on its default port with the embedded engines.

Each service is a child process (`python -m <package>`); their logs are merged into one stream,
each line prefixed with the service name. The gateway starts once its upstreams report SERVING.
Ctrl-C (or SIGTERM) stops everything gracefully. Services whose package does not exist yet are
skipped, so this works at every stage of the project.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from svc_core.healthcheck import is_serving

ROOT = Path(__file__).resolve().parent.parent
COLORS = ["\033[36m", "\033[32m", "\033[33m", "\033[35m", "\033[34m", "\033[31m", "\033[37m"]
RESET = "\033[0m"


@dataclass
class DevService:
    """A process `make dev` runs."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    grpc_port: int | None = None  # waited for with gRPC health before dependants start
    process: subprocess.Popen[bytes] | None = None

    def available(self) -> bool:
        if self.command[:2] == [sys.executable, "-m"]:
            return (ROOT / self.command[2] / "__main__.py").exists()
        return True


def services(data_dir: Path, api_key: str) -> list[DevService]:
    py = sys.executable
    upstreams = [
        DevService("asr", [py, "-m", "asr_svc"], {"ASR_DATA_DIR": str(data_dir / "asr")}, 50052),
        DevService(
            "llm",
            [py, "-m", "llm_svc"],
            # Tutors without a knowledge base (and the README's `talk` example) answer from the
            # demo knowledge base under `make dev` only; elsewhere they say they have no notes.
            {
                "LLM_DATA_DIR": str(data_dir / "llm"),
                "LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE": os.environ.get(
                    "LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE", "demo"
                ),
            },
            50053,
        ),
        DevService("tts", [py, "-m", "tts_svc"], {"TTS_DATA_DIR": str(data_dir / "tts")}, 50054),
        DevService(
            "lipsync",
            [py, "-m", "lipsync_svc"],
            {"LIPSYNC_DATA_DIR": str(data_dir / "lipsync")},
            50055,
        ),
    ]
    gateway = DevService(
        "gateway",
        [py, "-m", "gateway"],
        {"GATEWAY_API_KEY": api_key, "GATEWAY_DATA_DIR": str(data_dir / "gateway")},
        50051,
    )
    edge = [
        DevService(
            "turn",
            ["turnserver", "-c", str(ROOT / "deploy/coturn/dev.conf"), "--log-file", "stdout"],
        ),
        DevService(
            "rtc_edge",
            [py, "-m", "rtc_edge"],
            # Development: the edge may sign with deploy/coturn/dev.conf's public TURN secret.
            {
                "RTC_DATA_DIR": str(data_dir / "rtc"),
                "RTC_GATEWAY_API_KEY": api_key,
                "RTC_DEVELOPMENT": "1",
            },
        ),
        DevService(
            "web",
            [py, "-m", "web_backend"],
            {"WEB_DATA_DIR": str(data_dir / "web"), "WEB_GATEWAY_API_KEY": api_key},
        ),
    ]
    edge_ready = (ROOT / "rtc_edge" / "__main__.py").exists()
    return [
        s
        for s in [*upstreams, gateway, *edge]
        if s.available() and (s.name != "turn" or edge_ready)
    ]


def _pump(service: DevService, color: str) -> None:
    assert service.process is not None and service.process.stdout is not None
    prefix = f"{color}{service.name:>8}{RESET} | "
    for raw in service.process.stdout:
        sys.stdout.write(prefix + raw.decode(errors="replace"))
        sys.stdout.flush()


def _wait_healthy(service: DevService, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process is not None and service.process.poll() is not None:
            return False
        if is_serving(f"127.0.0.1:{service.grpc_port}", timeout_s=1):
            return True
        time.sleep(0.2)
    return False


def _stop_all(running: list[DevService]) -> None:
    for service in reversed(running):
        if service.process and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for service in reversed(running):
        if service.process is None:
            continue
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "dev")
    args = parser.parse_args()
    api_key = os.environ.get("GATEWAY_API_KEY", "dev-api-key")
    todo = services(args.data_dir, api_key)
    if not todo:
        print("no services to run yet", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    running: list[DevService] = []
    try:
        for index, service in enumerate(todo):
            if service.name == "gateway":
                for upstream in running:
                    if upstream.grpc_port and not _wait_healthy(upstream, 120):
                        print(f"{upstream.name} did not become healthy", file=sys.stderr)
                        return 1
            env = {**os.environ, "PYTHONUNBUFFERED": "1", **service.env}
            service.process = subprocess.Popen(
                service.command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            running.append(service)
            threading.Thread(
                target=_pump, args=(service, COLORS[index % len(COLORS)]), daemon=True
            ).start()
        gateway = next((s for s in running if s.name == "gateway"), None)
        if gateway and _wait_healthy(gateway, 60):
            print(
                f"\nVirtual Tutor is running (gateway 127.0.0.1:50051, API key {api_key!r}). "
                "Ctrl-C stops everything.\n",
                flush=True,
            )
        parent = os.getppid()
        # Stop with whoever started us (make, a terminal): orphaned services would hold ports.
        while not stop.is_set() and os.getppid() == parent:
            for service in running:
                if service.process and service.process.poll() is not None:
                    print(
                        f"{service.name} exited with {service.process.returncode}", file=sys.stderr
                    )
                    return 1
            stop.wait(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_all(running)


if __name__ == "__main__":
    sys.exit(main())
