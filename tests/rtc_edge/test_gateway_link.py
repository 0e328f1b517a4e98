"""The edge's Converse writer: requests in order, and audio that waited merged into one."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2

from rtc_edge.gateway_link import MAX_MERGED_AUDIO_BYTES, ConverseLink, StreamOptions

pytestmark = pytest.mark.unit


class SlowCall:
    """A Converse call whose writes take a while (a busy gateway), recording them."""

    def __init__(self) -> None:
        self.written: list[gateway_pb2.ConverseRequest] = []

    async def write(self, request: gateway_pb2.ConverseRequest) -> None:
        await asyncio.sleep(0.02)
        self.written.append(request)


async def test_audio_that_waited_for_the_writer_goes_as_one_message_in_order() -> None:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")  # never connected: the call is fake
    link = ConverseLink(channel, "token", StreamOptions(session_id="s"))
    call = SlowCall()
    link._call = call  # type: ignore[assignment]
    chunk = bytes(640)  # 20 ms at 16 kHz
    link.send_audio(b"\x01\x00" * 320)  # taken at once: written alone
    writer = asyncio.create_task(link._write_loop())
    await asyncio.sleep(0.005)
    for i in range(5):  # queued while the first write is in flight
        link.send_audio(bytes([i + 2, 0]) * 320)
    await link.send_text("hello")
    link.send_audio(chunk)
    big = MAX_MERGED_AUDIO_BYTES // len(chunk) + 3
    await asyncio.sleep(0.05)
    for _ in range(big):
        link.send_audio(chunk)
    await asyncio.sleep(0.5)  # 20 ms a write: ample for the few messages left
    writer.cancel()
    await channel.close(grace=None)

    kinds = [r.WhichOneof("request") for r in call.written]
    assert kinds[:3] == ["audio", "audio", "text"]  # the text keeps its place
    assert call.written[0].audio == b"\x01\x00" * 320
    merged = call.written[1].audio
    assert merged == b"".join(bytes([i + 2, 0]) * 320 for i in range(5))  # in order
    audio_after = [r.audio for r in call.written[3:]]
    assert sum(len(a) for a in audio_after) == (big + 1) * len(chunk)  # nothing lost
    assert all(len(a) <= MAX_MERGED_AUDIO_BYTES for a in audio_after)
    assert len(audio_after) >= 2  # the cap split them
    assert link.merged_audio_chunks == 4 + (big + 1 - len(audio_after))
