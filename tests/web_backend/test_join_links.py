"""Join links (issue 22): an admin makes one for a student and a tutor, with a QR code; the
secret works only as a join secret, only until it expires, and only inside its tenant. The
join itself opens a real session in the real gateway."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.web_backend.conftest import PASSWORD, Backend, Tenant, login
from tests.web_backend.standalone import StandaloneBackend, standalone_backend
from web_backend.app import models
from web_backend.app.core.join_links import JoinClaims, create_join_secret
from web_backend.app.core.security import TokenClaims, create_access_token

pytestmark = pytest.mark.integration


@dataclass
class School:
    """A tenant with a logged-in admin, one student and one tutor."""

    tenant_id: str
    admin: dict[str, str]
    student_id: str
    tutor_id: str


async def make_school(backend: StandaloneBackend, client: httpx.AsyncClient, name: str) -> School:
    admin = await login(client, backend.add_admin(name))
    student = await client.post(
        "/api/students",
        json={"email": f"kid@{name}.test", "password": PASSWORD, "full_name": "Kid"},
        headers=admin,
    )
    tutor = await client.post("/api/tutors", json={"name": f"{name} tutor"}, headers=admin)
    assert student.status_code == tutor.status_code == 201, (student.text, tutor.text)
    return School(student.json()["tenant_id"], admin, student.json()["id"], tutor.json()["id"])


def decode_qr_svg(svg: str, pixels_per_module: int = 8) -> str:
    """What a QR reader sees in segno's SVG: its dark runs ("M x y", "m dx dy", "h n" in
    module units, each run one module high) rasterized, then decoded by OpenCV."""
    import cv2
    import numpy as np

    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    size = int(root.attrib["width"]) // 4  # segno scale=4: the width in modules
    dark = next(p for p in root.iter(f"{ns}path") if p.attrib.get("class") == "qrline")
    image = np.full((size * pixels_per_module,) * 2, 255, np.uint8)
    x = y = 0.0
    for command, args in re.findall(r"([Mmh])([^Mmh]*)", dark.attrib["d"]):
        numbers = [float(n) for n in args.split()] if " " in args else [float(args)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            row = int(y) * pixels_per_module
            start, end = int(x) * pixels_per_module, int(x + numbers[0]) * pixels_per_module
            image[row : row + pixels_per_module, start:end] = 0
            x += numbers[0]
    # OpenCV's classic detector misreads about one dense code in ten (a JWT link is version
    # ~14); the ArUco-based one read every one of 60 random links of this length.
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        text, _, _ = detector.detectAndDecode(image)
        if text:
            return str(text)
    return ""


def secret_of(url: str) -> str:
    return urlsplit(url).fragment


async def test_admin_makes_a_link_with_a_qr_code(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            alpha = await make_school(backend, client, "alpha")
            beta = await make_school(backend, client, "beta")
            made = await client.post(
                "/api/join-links",
                json={"student_id": alpha.student_id, "tutor_id": alpha.tutor_id},
                headers=alpha.admin,
            )
            assert made.status_code == 201, made.text
            link = made.json()
            parts = urlsplit(link["url"])
            # The secret is in the fragment: not in the path or the query a server would log.
            assert (parts.scheme, parts.netloc, parts.path, parts.query) == (
                "http",
                "backend",
                "/join",
                "",
            )
            assert len(parts.fragment) > 100
            expires = datetime.fromisoformat(link["expires_at"])
            assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
            # The QR code, drawn as the browser draws it, reads back as the very link.
            assert decode_qr_svg(link["qr_svg"]) == link["url"]

            # Another tenant's student or tutor is not found; a student may not make links.
            for body in (
                {"student_id": beta.student_id, "tutor_id": alpha.tutor_id},
                {"student_id": alpha.student_id, "tutor_id": beta.tutor_id},
            ):
                other = await client.post("/api/join-links", json=body, headers=alpha.admin)
                assert other.status_code == 404, other.text
            missing = await client.post(
                "/api/join-links", json={"student_id": alpha.student_id}, headers=alpha.admin
            )
            assert missing.status_code == 422
            student = await login(client, "kid@alpha.test")
            refused = await client.post(
                "/api/join-links",
                json={"student_id": alpha.student_id, "tutor_id": alpha.tutor_id},
                headers=student,
            )
            assert refused.status_code == 403

            # The join secret is no access token.
            me = await client.get(
                "/api/auth/me", headers={"Authorization": f"Bearer {secret_of(link['url'])}"}
            )
            assert me.status_code == 401


async def test_public_url_setting_names_the_link_host(tmp_path: Path, database_url: str) -> None:
    public = "https://tutor.school.example"
    async with standalone_backend(tmp_path, database_url, public_url=public) as backend:
        async with backend.client() as client:
            school = await make_school(backend, client, "gamma")
            made = await client.post(
                "/api/join-links",
                json={"student_id": school.student_id, "tutor_id": school.tutor_id},
                headers=school.admin,
            )
    assert made.json()["url"].startswith(f"{public}/join#")


async def test_bad_expired_and_foreign_secrets_are_refused(
    tmp_path: Path, database_url: str
) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        key = backend.app.state.ctx.jwt_secret
        async with backend.client() as client:
            alpha = await make_school(backend, client, "alpha")
            beta = await make_school(backend, client, "beta")

            def secret(claims: JoinClaims, **kw: object) -> str:
                token, _ = create_join_secret(
                    claims,
                    secret=str(kw.get("key", key)),
                    ttl=timedelta(hours=1),
                    now=kw.get("now"),  # type: ignore[arg-type]
                )
                return token

            own = JoinClaims(alpha.tenant_id, alpha.student_id, alpha.tutor_id)
            cases = {
                "garbage": ("not-a-secret", 401, "not valid"),
                "other key": (secret(own, key="another-key-" + "x" * 32), 401, "not valid"),
                "expired": (
                    secret(own, now=datetime.now(UTC) - timedelta(hours=2)),
                    401,
                    "expired",
                ),
                "access token": (
                    create_access_token(
                        TokenClaims(alpha.student_id, alpha.tenant_id, "student"),
                        secret=key,
                        ttl=timedelta(hours=1),
                    ),
                    401,
                    "not valid",
                ),
                # Signed by this backend, but naming another tenant's tutor (or student).
                "foreign tutor": (
                    secret(JoinClaims(alpha.tenant_id, alpha.student_id, beta.tutor_id)),
                    404,
                    "tutor no longer exists",
                ),
                "foreign student": (
                    secret(JoinClaims(alpha.tenant_id, beta.student_id, alpha.tutor_id)),
                    404,
                    "student no longer exists",
                ),
            }
            for name, (token, status, words) in cases.items():
                response = await client.post("/api/join", json={"secret": token})
                assert response.status_code == status, (name, response.text)
                assert words in response.json()["detail"], (name, response.text)

            empty = await client.post("/api/join", json={"secret": ""})
            assert empty.status_code == 422

            # Disabling the student revokes their links; deleting them too.
            valid = secret(own)
            await client.patch(
                f"/api/students/{alpha.student_id}", json={"is_active": False}, headers=alpha.admin
            )
            disabled = await client.post("/api/join", json={"secret": valid})
            assert disabled.status_code == 401 and "disabled" in disabled.json()["detail"]
            await client.delete(f"/api/students/{alpha.student_id}", headers=alpha.admin)
            deleted = await client.post("/api/join", json={"secret": valid})
            assert deleted.status_code == 404


async def test_join_page_keeps_the_secret_out_of_referers_and_caches(
    tmp_path: Path, database_url: str
) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            page = await client.get("/join")
            script = await client.get("/static/join.js")
    assert page.status_code == script.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert '<script src="/static/join.js">' in page.text
    # The page posts the fragment's secret in a body; it never puts it in a URL.
    assert 'fetch("/api/join"' in script.text and "location.hash" in script.text


async def test_a_link_opens_a_live_session_in_the_gateway(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    client = backend.client
    tutor = await client.post("/api/tutors", json={"name": "Ada"}, headers=alpha.admin_headers)
    link = await client.post(
        "/api/join-links",
        json={"student_id": alpha.student_id, "tutor_id": tutor.json()["id"]},
        headers=alpha.admin_headers,
    )
    joined = await client.post("/api/join", json={"secret": secret_of(link.json()["url"])})
    assert joined.status_code == 201, joined.text
    started = joined.json()
    assert started["tutor_name"] == "Ada" and started["student_name"] == "Sam"
    page = urlsplit(started["student_page_url"])
    assert f"{page.scheme}://{page.netloc}" == backend.settings.rtc_edge_url
    assert page.query == ""  # the engine token rides in the fragment only
    fragment = parse_qs(page.fragment)
    assert fragment["tutor"] == ["Ada"] and fragment["token"][0]
    gateway_session = await backend.stack.get_session(fragment["session_id"][0])
    assert gateway_session.student_id == alpha.student_id
    assert gateway_session.tutor.display_name == "Ada"
    # Recorded as the student's session, which their own history shows.
    mine = await client.get("/api/sessions", headers=alpha.student_headers)
    assert [s["id"] for s in mine.json()] == [started["session_id"]]


async def test_a_demo_tutor_answers_from_the_demo_knowledge_base(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    client = backend.client
    made = await client.post(
        "/api/tutors", json={"name": "Demo Tutor"}, headers=alpha.admin_headers
    )
    with backend.db() as db:
        row = db.get(models.Tutor, made.json()["id"])
        row.knowledge_base_id = "demo"  # as the dev seed makes it
        db.commit()
    shown = await client.get(f"/api/tutors/{row.id}", headers=alpha.admin_headers)
    assert shown.json()["uses_builtin_knowledge"] is True
    link = await client.post(
        "/api/join-links",
        json={"student_id": alpha.student_id, "tutor_id": row.id},
        headers=alpha.admin_headers,
    )
    joined = await client.post("/api/join", json={"secret": secret_of(link.json()["url"])})
    session_id = parse_qs(urlsplit(joined.json()["student_page_url"]).fragment)["session_id"][0]
    assert (await backend.stack.get_session(session_id)).tutor.knowledge_base_id == "demo"
    answer = await client.post(
        f"/api/tutors/{row.id}/chat",
        json={"text": "how do plants make food"},
        headers=alpha.student_headers,
    )
    assert answer.status_code == 200, answer.text
    assert "photosynthesis" in answer.json()["turn"]["assistant_text"].lower()
    # Deleting it leaves the shared, read-only demo base alone.
    deleted = await client.delete(f"/api/tutors/{row.id}", headers=alpha.admin_headers)
    assert deleted.status_code == 204
