"""The first run (issue 22): `create-tenant` without a terminal into the database `make dev`
uses, `seed-demo`, and the dev launcher's wiring."""

from __future__ import annotations

import http.server
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scripts import dev
from web_backend import cli
from web_backend.app import crud, models
from web_backend.app.api.routes.sessions import tutor_profile
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory
from web_backend.app.core.join_links import read_join_secret
from web_backend.demo_seed import DEMO_ADMIN, DEMO_STUDENT

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A first-run data dir (not created yet), named by WEB_DATA_DIR as `make dev` does."""
    path = tmp_path / "dev" / "web"
    monkeypatch.setenv("WEB_DATA_DIR", str(path))
    monkeypatch.delenv("WEB_DATABASE_URL", raising=False)
    monkeypatch.delenv("WEB_JWT_SECRET", raising=False)
    return path


def can_log_in(email: str, password: str) -> bool:
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            return crud.authenticate(db=db, email=email, password=password) is not None
    finally:
        engine.dispose()


def create(*extra: str, stdin: str = "") -> int:
    args = ["create-tenant", "--name", "Springfield", "--admin-email", "Boss@Springfield.test"]
    return cli.main([*args, *extra], stdin=io.StringIO(stdin))


def test_password_from_stdin(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert create("--password-stdin", stdin="correct horse battery\nignored\n") == 0
    out = capsys.readouterr().out
    assert "boss@springfield.test" in out and "password" not in out.lower()
    assert (data_dir / "web_backend.sqlite3").exists()
    assert can_log_in("boss@springfield.test", "correct horse battery")
    assert not can_log_in("boss@springfield.test", "correct horse battery\n")


def test_generated_password_is_printed_once_and_works(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert create() == 0
    out = capsys.readouterr().out
    shown = re.findall(r"Admin password: (\S+)", out)
    assert len(shown) == 1 and len(shown[0]) >= 12
    assert can_log_in("boss@springfield.test", shown[0])
    assert "/admin" in out


def test_refusals(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert create("--password-stdin", stdin="\n") == 2
    assert "empty password" in capsys.readouterr().err
    assert create("--admin-password", "short") == 1
    assert "at least 8 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit) as both:
        create("--password-stdin", "--admin-password", "long enough password")
    assert both.value.code == 2
    capsys.readouterr()
    assert create("--admin-password", "long enough password") == 0
    assert create("--admin-password", "another password") == 1
    assert "'Springfield' exists already" in capsys.readouterr().err
    email_taken = cli.main(
        ["create-tenant", "--name", "Shelbyville", "--admin-email", "boss@springfield.test"],
        stdin=io.StringIO(""),
    )
    assert email_taken == 1
    assert "already in use" in capsys.readouterr().err
    assert not can_log_in("boss@springfield.test", "another password")


def test_runs_without_a_terminal(data_dir: Path) -> None:
    """As a script or CI runs it: stdin is not a terminal, and nothing may prompt."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "web_backend.cli", "create-tenant", "--name", "Ogdenville"),
            *("--admin-email", "admin@ogdenville.test", "--password-stdin"),
        ],
        cwd=ROOT,
        input="monorail monorail\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WEB_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr
    assert "EOFError" not in done.stderr and "Traceback" not in done.stderr
    assert can_log_in("admin@ogdenville.test", "monorail monorail")


def test_cli_and_make_dev_share_one_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_DATA_DIR", raising=False)
    web = next(s for s in dev.services(dev.ROOT / "var" / "dev", "key") if s.name == "web")
    assert Path(web.env["WEB_DATA_DIR"]).resolve() == (ROOT / Settings().data_dir).resolve()


def test_dev_ports_move_together() -> None:
    ports = dev.Ports.shifted(1000)
    assert (ports.web, ports.edge, ports.gateway, ports.turn) == (9000, 9080, 51051, 4478)
    by_name = {s.name: s for s in dev.services(Path("/tmp/x"), "key", ports)}
    assert by_name["gateway"].env["GATEWAY_LLM_ADDRESS"] == "127.0.0.1:51053"
    assert by_name["llm"].env["LLM_PORT"] == "51053"
    assert by_name["web"].env["WEB_RTC_EDGE_URL"] == "http://127.0.0.1:9080"
    assert by_name["rtc_edge"].env["RTC_TURN_URLS"] == "turn:127.0.0.1:4478?transport=udp"
    assert "--listening-port" in by_name["turn"].command
    assert by_name["web"].health_url == "http://127.0.0.1:9000/health"


def test_seed_demo_once_then_again(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["seed-demo"]) == 0
    first = capsys.readouterr().out
    assert "created" in first
    admin_password = re.search(re.escape(DEMO_ADMIN) + r"\s+password (\S+)", first)
    assert admin_password and can_log_in(DEMO_ADMIN, admin_password.group(1))
    assert oct((data_dir / "demo-login.json").stat().st_mode & 0o777) == "0o600"

    assert cli.main(["seed-demo"]) == 0
    second = capsys.readouterr().out
    assert "created" not in second and admin_password.group(1) in second
    link = re.search(r"(http://127\.0\.0\.1:8000/join#)(\S+)", second)
    assert link is not None
    claims = read_join_secret(link.group(2), secret=Settings().resolved_jwt_secret())

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            assert db.query(models.Tenant).count() == 1  # seeded once
            tutor = db.get(models.Tutor, claims.tutor_id)
            student = db.get(models.Student, claims.student_id)
            assert tutor is not None and student is not None
            assert student.email == DEMO_STUDENT and tutor.tenant_id == claims.tenant_id
            # No documents of its own, yet the gateway is told to answer from the demo base.
            assert tutor_profile(db, tutor).knowledge_base_id == "demo"
    finally:
        engine.dispose()


def test_dev_waits_for_the_pages_to_answer_200() -> None:
    """The launcher's wait for a page: 503s and refused connections are not ready yet."""
    answers = [503, 503, 200]

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        page = dev.DevService("web", ["true"], health_url=url)
        assert dev._wait_healthy(page, timeout_s=10)
        assert answers == [200]  # it asked until the 200 came
    finally:
        server.shutdown()
        server.server_close()
    nobody = dev.DevService("web", ["true"], health_url=url)  # nothing listens there now
    assert not dev._wait_healthy(nobody, timeout_s=0.5)


def test_dev_services_share_our_session_in_their_own_process_group() -> None:
    """Ctrl-C reaches only the launcher (their own process group), while thread priorities
    still count across services (our session: one scheduling group under autogrouping)."""
    code = "import os; print(os.getsid(0), os.getpgid(0), os.getpid())"
    process = dev.start_process([sys.executable, "-c", code], dict(os.environ))
    out, _ = process.communicate(timeout=30)
    session, group, pid = (int(v) for v in out.split())
    assert session == os.getsid(0)
    assert group == pid != os.getpgid(0)
