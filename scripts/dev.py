"""`make dev`: runs every service on its default port with the embedded engines.

Each service is a child process (`python -m <package>`); their logs are merged into one stream,
each line prefixed with the service name. The gateway starts once its upstreams report SERVING.
The URLs are printed once the pages answer (HTTP 200 from the backend's and the edge's
/health), after the demo school is seeded on a first run (a tutor on the built-in demo
knowledge base, an admin and a student with a join link), so a new user talks to something
within a minute. Ctrl-C (or SIGTERM) stops everything gracefully. Services whose package does
not exist yet are skipped, so this works at every stage of the project.

`--port-offset N` moves every port by N (a second copy beside a running one, or a test).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from svc_core.healthcheck import is_http_ok, is_serving

ROOT = Path(__file__).resolve().parent.parent
COLORS = ["\033[36m", "\033[32m", "\033[33m", "\033[35m", "\033[34m", "\033[31m", "\033[37m"]
RESET = "\033[0m"


@dataclass(frozen=True)
class Ports:
    """Every port `make dev` uses (the defaults of each service)."""

    gateway: int = 50051
    asr: int = 50052
    llm: int = 50053
    tts: int = 50054
    lipsync: int = 50055
    web: int = 8000
    edge: int = 8080
    turn: int = 3478
    relay_min: int = 49160
    relay_max: int = 49200

    @classmethod
    def shifted(cls, offset: int) -> Ports:
        """The defaults, each moved by ``offset``."""
        return cls(**{f.name: getattr(cls(), f.name) + offset for f in fields(cls)})

    def url(self, name: str) -> str:
        """http://127.0.0.1:<port> of an HTTP service ("web" or "edge")."""
        return f"http://127.0.0.1:{getattr(self, name)}"


@dataclass
class DevService:
    """A process `make dev` runs."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    grpc_port: int | None = None  # waited for with gRPC health before dependants start
    health_url: str | None = None  # waited for (HTTP 200) before the URLs are printed
    process: subprocess.Popen[bytes] | None = None

    def available(self) -> bool:
        if self.command[:2] == [sys.executable, "-m"]:
            return (ROOT / self.command[2] / "__main__.py").exists()
        return True


def services(data_dir: Path, api_key: str, ports: Ports | None = None) -> list[DevService]:
    """What `make dev` runs, in start order."""
    ports = ports or Ports()
    py = sys.executable
    llm = f"127.0.0.1:{ports.llm}"
    upstreams = [
        DevService(
            "asr",
            [py, "-m", "asr_svc"],
            {
                "ASR_DATA_DIR": str(data_dir / "asr"),
                "ASR_PORT": str(ports.asr),
                "ASR_LLM_ADDRESS": llm,
                # People talk to make dev: the Smart Turn model ends a finished question after
                # a 160 ms pause instead of 500 ms of silence, and waits through thinking
                # pauses. (Synthetic espeak speech, which tests use, fools it: they keep the
                # silence rule.) ASR_END_OF_TURN=silence in the environment turns it off.
                "ASR_END_OF_TURN": os.environ.get("ASR_END_OF_TURN", "smart_turn"),
            },
            ports.asr,
        ),
        DevService(
            "llm",
            [py, "-m", "llm_svc"],
            # Tutors without a knowledge base (and the README's `talk` example) answer from the
            # demo knowledge base under `make dev` only; elsewhere they say they have no notes.
            {
                "LLM_DATA_DIR": str(data_dir / "llm"),
                "LLM_PORT": str(ports.llm),
                "LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE": os.environ.get(
                    "LLM_RETRIEVAL_FALLBACK_KNOWLEDGE_BASE", "demo"
                ),
            },
            ports.llm,
        ),
        DevService(
            "tts",
            [py, "-m", "tts_svc"],
            {"TTS_DATA_DIR": str(data_dir / "tts"), "TTS_PORT": str(ports.tts)},
            ports.tts,
        ),
        DevService(
            "lipsync",
            [py, "-m", "lipsync_svc"],
            {"LIPSYNC_DATA_DIR": str(data_dir / "lipsync"), "LIPSYNC_PORT": str(ports.lipsync)},
            ports.lipsync,
        ),
    ]
    gateway_address = f"127.0.0.1:{ports.gateway}"
    gateway = DevService(
        "gateway",
        [py, "-m", "gateway"],
        {
            "GATEWAY_API_KEY": api_key,
            "GATEWAY_DATA_DIR": str(data_dir / "gateway"),
            "GATEWAY_PORT": str(ports.gateway),
            "GATEWAY_ASR_ADDRESS": f"127.0.0.1:{ports.asr}",
            "GATEWAY_LLM_ADDRESS": llm,
            "GATEWAY_TTS_ADDRESS": f"127.0.0.1:{ports.tts}",
            "GATEWAY_LIPSYNC_ADDRESS": f"127.0.0.1:{ports.lipsync}",
        },
        ports.gateway,
    )
    edge = [
        DevService(
            "turn",
            [
                "turnserver",
                "-c",
                str(ROOT / "deploy/coturn/dev.conf"),
                "--log-file",
                "stdout",
                "--listening-port",
                str(ports.turn),
                "--min-port",
                str(ports.relay_min),
                "--max-port",
                str(ports.relay_max),
            ],
        ),
        DevService(
            "rtc_edge",
            [py, "-m", "rtc_edge"],
            # Development: the edge may sign with deploy/coturn/dev.conf's public TURN secret.
            {
                "RTC_DATA_DIR": str(data_dir / "rtc"),
                "RTC_GATEWAY_API_KEY": api_key,
                "RTC_DEVELOPMENT": "1",
                "RTC_PORT": str(ports.edge),
                "RTC_GATEWAY_ADDRESS": gateway_address,
                "RTC_TURN_URLS": f"turn:127.0.0.1:{ports.turn}?transport=udp",
                "RTC_FRAME_ANCESTORS": f"{ports.url('web')},http://localhost:{ports.web}",
            },
            health_url=f"{ports.url('edge')}/health",
        ),
        DevService(
            "web",
            [py, "-m", "web_backend"],
            {
                "WEB_DATA_DIR": str(data_dir / "web"),
                "WEB_GATEWAY_API_KEY": api_key,
                "WEB_PORT": str(ports.web),
                "WEB_GATEWAY_ADDRESS": gateway_address,
                "WEB_RTC_EDGE_URL": ports.url("edge"),
            },
            health_url=f"{ports.url('web')}/health",
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
    """Until the service's gRPC health says SERVING or its health URL answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process is not None and service.process.poll() is not None:
            return False
        if service.grpc_port is not None and is_serving(
            f"127.0.0.1:{service.grpc_port}", timeout_s=1
        ):
            return True
        if service.health_url is not None and is_http_ok(service.health_url, timeout_s=1):
            return True
        time.sleep(0.2)
    return False


def start_process(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Starts a service with its output piped to us.

    Its own process group, so a terminal's Ctrl-C reaches only this launcher, which stops the
    services in order. Not its own session: on Linux with autogrouping (most desktops) each
    session is a scheduling group whose threads' nice values count only within it, and
    tts_svc's niced background synthesis must yield to the other services' work, as it does
    in the load harness (issue 20), not get a whole group's share of the CPU.
    """
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
    )


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


def _seed_demo(web: DevService) -> str:
    """Runs `python -m web_backend.cli seed-demo` against the dev database; returns its output."""
    env = {**os.environ, **web.env, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "web_backend.cli", "seed-demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        return f"The demo could not be seeded: {done.stderr.strip() or done.stdout.strip()}\n"
    return done.stdout


def _banner(ports: Ports, api_key: str, demo: str, web_data_dir: Path) -> str:
    default_dir = web_data_dir.resolve() == (ROOT / "var" / "dev" / "web").resolve()
    env = "" if default_dir else f"WEB_DATA_DIR={web_data_dir} "
    if ports.web != 8000:
        env += f"WEB_PORT={ports.web} "
    lines = [
        "",
        "Virtual Tutor is running. Ctrl-C stops everything.",
        f"  admin pages:   {ports.url('web')}/admin",
        f"  student pages: {ports.url('web')}/student  (live sessions open on "
        f"{ports.url('edge')}/)",
        f"  gateway:       127.0.0.1:{ports.gateway}  (API key {api_key!r})",
        "",
        demo.rstrip(),
        "",
        "Your own school and admin (password from standard input):",
        f"  {env}.venv/bin/python -m web_backend.cli create-tenant --name 'My School' "
        "--admin-email you@example.org --password-stdin",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "dev")
    parser.add_argument("--port-offset", type=int, default=0, help="added to every port")
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo school")
    args = parser.parse_args(argv)
    api_key = os.environ.get("GATEWAY_API_KEY", "dev-api-key")
    ports = Ports.shifted(args.port_offset)
    data_dir = args.data_dir.resolve()
    todo = services(data_dir, api_key, ports)
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
            service.process = start_process(service.command, env)
            running.append(service)
            threading.Thread(
                target=_pump, args=(service, COLORS[index % len(COLORS)]), daemon=True
            ).start()
        # The URLs are printed only once everything a browser needs answers.
        waited = [s for s in running if s.grpc_port == ports.gateway or s.health_url]
        for service in waited:
            if not _wait_healthy(service, 120):
                print(f"{service.name} did not become healthy", file=sys.stderr)
                return 1
        web = next((s for s in running if s.name == "web"), None)
        if web is not None:
            demo = "" if args.no_demo else _seed_demo(web)
            print(_banner(ports, api_key, demo, Path(web.env["WEB_DATA_DIR"])), flush=True)
        else:
            print(f"\nVirtual Tutor is running (gateway 127.0.0.1:{ports.gateway}).\n", flush=True)
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
