"""The edge's audio receiver hands on each packet as soon as it is in order (no playout delay)."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from rtc_edge.microphone_receiver import without_playout_delay

pytestmark = pytest.mark.unit


def _packets(count: int) -> list[RtpPacket]:
    packets = []
    for i in range(count):
        packet = RtpPacket(payload_type=111, sequence_number=100 + i, timestamp=960 * i)
        packet._data = b"x"  # type: ignore[attr-defined]  # the depacketized payload, as aiortc sets it
        packets.append(packet)
    return packets


def _released_after(receiver: object, packets: list[RtpPacket]) -> int:
    """How many packets had arrived when the first one came out of the receiver's buffer."""
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    for arrived, packet in enumerate(packets, start=1):
        _, frame = buffer.add(packet)
        if frame is not None:
            assert frame.timestamp == packets[0].timestamp
            return arrived
    return 0


async def test_an_audio_packet_leaves_as_soon_as_the_next_one_arrives() -> None:
    pc = RTCPeerConnection()
    try:
        stock = pc.addTransceiver("audio", direction="sendrecv").receiver
        ours = pc.addTransceiver("audio", direction="sendrecv").receiver
        assert without_playout_delay(ours)
        # aiortc's own buffer waits for four packets more (80 ms of speech) ...
        assert _released_after(stock, _packets(8)) == 5
        # ... the edge's only for the next one: it cannot tell a frame is whole before.
        assert _released_after(ours, _packets(8)) == 2
    finally:
        await pc.close()


def test_a_receiver_without_the_buffer_is_left_alone_and_says_so(caplog) -> None:
    class Other:
        pass

    assert not without_playout_delay(Other())  # type: ignore[arg-type]
    assert "jitter buffer was not found" in caplog.text
