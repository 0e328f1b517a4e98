"""The peers this edge serves, with a limit on how many at once."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rtc_edge.peer_session import PeerSession

logger = logging.getLogger(__name__)


class EdgeFull(Exception):
    """The edge already serves its maximum number of peers."""


class PeerRegistry:
    """Live peers by id; offers being set up count against the limit too.

    Args:
        max_peers: Peers (and offers in progress) allowed at once.
    """

    def __init__(self, max_peers: int) -> None:
        self.max_peers = max_peers
        self._peers: dict[str, PeerSession] = {}
        self._reserved = 0

    def __len__(self) -> int:
        return len(self._peers)

    def __iter__(self) -> Iterator[PeerSession]:
        return iter(list(self._peers.values()))

    @contextmanager
    def reserve(self) -> Iterator[None]:
        """Holds one place while an offer is set up.

        Raises:
            EdgeFull: No place is free.
        """
        if len(self._peers) + self._reserved >= self.max_peers:
            raise EdgeFull(f"this edge serves {self.max_peers} peers already")
        self._reserved += 1
        try:
            yield
        finally:
            self._reserved -= 1

    def add(self, peer: PeerSession) -> None:
        """Registers a peer (call inside ``reserve``)."""
        self._peers[peer.peer_id] = peer

    def remove(self, peer: PeerSession) -> None:
        """Forgets a closed peer."""
        if self._peers.get(peer.peer_id) is peer:
            del self._peers[peer.peer_id]

    def find(self, session_id: str, token: str) -> PeerSession | None:
        """The live peer of ``session_id`` whose engine token is ``token``, if any."""
        for peer in self._peers.values():
            if peer.session_id == session_id and hmac.compare_digest(
                peer.token.encode(), token.encode()
            ):
                return peer
        return None

    async def close_all(self, reason: str) -> None:
        """Closes every peer (edge shutdown)."""
        await asyncio.gather(*(peer.close(reason) for peer in self), return_exceptions=True)
