"""Restricts the edge's own ICE host candidates to one address coturn can reach.

aioice offers every non-loopback interface and never 127.0.0.1 (shared ENVIRONMENT notes);
the edge needs exactly the address the TURN server relays to, so only the browser spends
relay ports. aioice has no option for this, so its address lookup is replaced process-wide:
the edge process runs no other ICE agent that needs host candidates.
"""

from __future__ import annotations

import logging

import aioice.ice

logger = logging.getLogger(__name__)

_original = aioice.ice.get_host_addresses


def use_host_candidate_ip(address: str) -> None:
    """Makes every ICE agent in this process gather host candidates on ``address`` only.

    An empty address restores aioice's own choice of interfaces.
    """
    if not address:
        aioice.ice.get_host_addresses = _original
        return

    def only_configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address]

    aioice.ice.get_host_addresses = only_configured
    logger.info("ICE host candidates restricted to %s", address)
