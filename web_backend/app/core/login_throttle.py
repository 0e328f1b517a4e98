"""Login throttling: failed logins counted per account and per address, with growing waits.

Each key has tiers of limits (``5/minute;20/hour;100/day`` by default), so the wait grows as
failures pile up: a typo costs nothing, five in a minute cost up to a minute, twenty up to an
hour. Counting is done by the ``limits`` library in a moving window; its storage is in memory
by default, and a URI such as ``redis://host:6379`` shares the counts between replicas.

The check runs before the password is verified, so a throttled caller costs no argon2 work,
and it is keyed by the email as typed: an unknown account is throttled exactly like a real
one, so the answer says nothing about which emails exist.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    """Counts failed logins and says how long a caller must wait.

    Args:
        per_account: Limits on failures for one email, ``limits`` notation ("5/minute;20/hour").
        per_address: Limits on failures from one client address.
        storage_uri: Where counts live: ``memory://`` (one process) or a shared store's URI.

    Raises:
        ValueError: A limit string does not parse.
    """

    def __init__(self, *, per_account: str, per_address: str, storage_uri: str = "memory://"):
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account = parse_many(per_account)
        self._per_address = parse_many(per_address)

    def _keyed(self, account: str, address: str) -> list[tuple[RateLimitItem, str, str]]:
        return [
            *((limit, "login-account", _account_key(account)) for limit in self._per_account),
            *((limit, "login-address", address) for limit in self._per_address),
        ]

    def retry_after(self, *, account: str, address: str) -> int | None:
        """Whole seconds until this account may try again from this address; None: now."""
        waits = [
            self._limiter.get_window_stats(limit, kind, key).reset_time - time.time()
            for limit, kind, key in self._keyed(account, address)
            if not self._limiter.test(limit, kind, key)
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *, account: str, address: str) -> None:
        """Counts a failed login against the account and the address."""
        for limit, kind, key in self._keyed(account, address):
            self._limiter.hit(limit, kind, key)

    def succeeded(self, *, account: str) -> None:
        """Forgets the account's failures (its owner proved who they are); the address's stay."""
        for limit in self._per_account:
            self._limiter.clear(limit, "login-account", _account_key(account))


def _account_key(email: str) -> str:
    # Logins are case-insensitive: so is the throttle.
    return email.strip().lower()
