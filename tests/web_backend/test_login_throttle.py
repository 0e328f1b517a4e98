"""Failed logins are throttled per account and per address, with growing waits (issue 21,
item 3): before, 200 wrong passwords in a row changed nothing and the right one still worked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.web_backend.conftest import PASSWORD
from tests.web_backend.standalone import standalone_backend

pytestmark = pytest.mark.integration


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_an_account_is_throttled_after_its_failures_from_any_address(
    tmp_path: Path, database_url: str
) -> None:
    limits = {"login_limits_per_account": "3/minute", "login_limits_per_address": "100/minute"}
    async with standalone_backend(tmp_path, database_url, **limits) as backend:
        victim = backend.add_admin("victim")
        bystander = backend.add_admin("bystander")
        async with backend.client("203.0.113.5") as attacker, backend.client() as other:
            for _ in range(3):
                assert (await _login(attacker, victim, "wrong password")).status_code == 401
            refused = await _login(attacker, victim.upper(), PASSWORD)
            assert refused.status_code == 429
            assert 0 < int(refused.headers["Retry-After"]) <= 60
            assert "too many failed logins" in refused.json()["detail"]
            # The account is locked from every address, even with the right password ...
            assert (await _login(other, victim, PASSWORD)).status_code == 429
            # ... and only that account.
            assert (await _login(attacker, bystander, PASSWORD)).status_code == 200
            # An unknown email is counted like a real one: the 429 tells nothing.
            for _ in range(3):
                assert (await _login(other, "ghost@victim.test", "x")).status_code == 401
            assert (await _login(other, "ghost@victim.test", "x")).status_code == 429


async def test_an_address_is_throttled_across_accounts(tmp_path: Path, database_url: str) -> None:
    limits = {"login_limits_per_account": "100/minute", "login_limits_per_address": "4/minute"}
    async with standalone_backend(tmp_path, database_url, **limits) as backend:
        admin = backend.add_admin("sprayed")
        async with backend.client("203.0.113.9") as sprayer, backend.client() as other:
            for index in range(4):
                response = await _login(sprayer, f"user{index}@sprayed.test", PASSWORD)
                assert response.status_code == 401
            refused = await _login(sprayer, admin, PASSWORD)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
            assert (await _login(other, admin, PASSWORD)).status_code == 200


async def test_waits_grow_with_failures_and_a_success_forgets_them(
    tmp_path: Path, database_url: str
) -> None:
    limits = {
        "login_limits_per_account": "2 per 1 second; 4 per 1 hour",
        "login_limits_per_address": "100/minute",
    }
    async with standalone_backend(tmp_path, database_url, **limits) as backend:
        email = backend.add_admin("backoff")
        async with backend.client() as client:
            for _ in range(2):
                assert (await _login(client, email, "wrong")).status_code == 401
            first = await _login(client, email, "wrong")
            assert first.status_code == 429 and first.headers["Retry-After"] == "1"
            await asyncio.sleep(1.1)
            for _ in range(2):
                assert (await _login(client, email, "wrong")).status_code == 401
            second = await _login(client, email, PASSWORD)
            assert second.status_code == 429
            # Four failures within the hour: the next wait is the hour's, not a second.
            assert int(second.headers["Retry-After"]) > 3000

        limits["login_limits_per_account"] = "3/minute"
        async with standalone_backend(tmp_path / "again", database_url, **limits) as backend:
            email = backend.add_admin("forgiven")
            async with backend.client() as client:
                for _ in range(2):
                    assert (await _login(client, email, "wrong")).status_code == 401
                assert (await _login(client, email, PASSWORD)).status_code == 200
                for _ in range(2):
                    assert (await _login(client, email, "wrong")).status_code == 401
                assert (await _login(client, email, PASSWORD)).status_code == 200
