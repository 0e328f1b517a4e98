"""The four upstream clients of a gateway, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config import GatewaySettings
from gateway.upstream.asr_client import AsrClient
from gateway.upstream.channels import open_channel
from gateway.upstream.lipsync_client import LipsyncClient
from gateway.upstream.llm_client import LlmClient
from gateway.upstream.tts_client import TtsClient


@dataclass
class UpstreamClients:
    """One client per inference service."""

    asr: AsrClient
    llm: LlmClient
    tts: TtsClient
    lipsync: LipsyncClient

    @classmethod
    def open(
        cls, settings: GatewaySettings, interceptors: list[Any] | None = None
    ) -> UpstreamClients:
        """Opens a channel per upstream (connections are made lazily, and remade after loss)."""
        extra = interceptors or []

        def channel(address: str) -> Any:
            return open_channel(address, settings, extra)

        return cls(
            asr=AsrClient(channel(settings.asr_address), settings.asr_address, settings),
            llm=LlmClient(channel(settings.llm_address), settings.llm_address, settings),
            tts=TtsClient(channel(settings.tts_address), settings.tts_address, settings),
            lipsync=LipsyncClient(
                channel(settings.lipsync_address), settings.lipsync_address, settings
            ),
        )

    async def close(self) -> None:
        """Closes every channel, cancelling calls still open."""
        for client in (self.asr, self.llm, self.tts, self.lipsync):
            await client.channel.close(None)
