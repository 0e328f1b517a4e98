"""``python -m benchmarks.web_backend``: does one hostile PDF upload stall the backend?

Issue 21, item 2: a 10 MB, 80,000-page PDF held every request, /health included, for 9 s,
because it was read inside the async route. This uploads such PDFs to an in-process backend
(SQLite, no gateway: the PDFs are refused before it would be reached) while a client asks for
/health every 10 ms, and reports the health latencies seen during each upload and how long the
upload took to be answered, with which status:

- ``pages_80000``: 80,000 pages (12.8 MB); refused by its page count (413).
- ``dense_page``: one page with a million text runs in 4 KB; refused at the time limit (422).

Writes ``bench-results/web_backend.json`` (``--output`` to change) and prints a table. Numbers
from a shared machine are noisy; the comparison that matters is health latency against the
upload's duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.pdf_samples import many_pages_pdf, slow_pdf
from web_backend.app import crud
from web_backend.app.core.config import Settings
from web_backend.app.core.db import upgrade_database
from web_backend.app.main import create_app

PASSWORD = "benchmark password"


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(pick(0.99), 2),
        "max": round(ordered[-1], 2),
    }


async def _upload_while_polling(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], name: str, data: bytes
) -> dict[str, Any]:
    started = time.perf_counter()
    upload = asyncio.create_task(
        client.post(url, files={"files": (name, data, "application/pdf")}, headers=headers)
    )
    health_ms: list[float] = []
    while not upload.done():
        asked = time.perf_counter()
        response = await client.get("/health")
        if response.status_code == 200 and not upload.done():
            health_ms.append((time.perf_counter() - asked) * 1000)
        await asyncio.sleep(0.01)
    response = await upload
    return {
        "pdf_bytes": len(data),
        "status": response.status_code,
        "detail": response.json().get("detail"),
        "upload_answered_s": round(time.perf_counter() - started, 2),
        "health_during_upload_ms": _percentiles(health_ms),
    }


async def run(timeout_s: float) -> dict[str, Any]:
    """Both uploads against a fresh backend; the results by scenario."""
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.sqlite3'}"
        upgrade_database(url)
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            gateway_address="127.0.0.1:9",
            jwt_secret="bench-secret-for-the-pdf-upload-benchmark",  # type: ignore[arg-type]
            pdf_timeout_s=timeout_s,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            with app.state.ctx.sessions() as db:
                tenant = crud.create_tenant(db=db, name="bench")
                crud.create_admin(
                    db=db, tenant_id=tenant.id, email="admin@bench.test", password=PASSWORD
                )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://backend", timeout=120
            ) as client:
                login = await client.post(
                    "/api/auth/login", json={"email": "admin@bench.test", "password": PASSWORD}
                )
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                tutor = await client.post("/api/tutors", json={"name": "Bench"}, headers=headers)
                documents = f"/api/tutors/{tutor.json()['id']}/documents"
                return {
                    "pdf_timeout_s": timeout_s,
                    "max_pdf_pages": settings.max_pdf_pages,
                    "pages_80000": await _upload_while_polling(
                        client, documents, headers, "pages.pdf", many_pages_pdf(80_000)
                    ),
                    "dense_page": await _upload_while_polling(
                        client, documents, headers, "dense.pdf", slow_pdf(1_000_000)
                    ),
                }


def main() -> None:
    """Runs the benchmark, prints a table, writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 3 s PDF time limit")
    parser.add_argument("--pdf-timeout-s", type=float, help="the PDF time limit (default 10)")
    parser.add_argument("--output", type=Path, default=Path("bench-results/web_backend.json"))
    args = parser.parse_args()
    timeout_s = args.pdf_timeout_s or (3.0 if args.quick else 10.0)
    results = asyncio.run(run(timeout_s))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"{'upload':<14}{'status':>7}{'answered s':>12}{'health p50':>12}{'p99':>9}{'max ms':>9}")
    for name in ("pages_80000", "dense_page"):
        row = results[name]
        health = row["health_during_upload_ms"]
        print(
            f"{name:<14}{row['status']:>7}{row['upload_answered_s']:>12}"
            f"{health.get('p50', '-'):>12}{health.get('p99', '-'):>9}{health.get('max', '-'):>9}"
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
