"""The edge's audio receiver hands on each packet as soon as it arrives (no playout delay)."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from rtc_edge.microphone_receiver import PacketPerFrameBuffer, without_playout_delay

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


async def test_an_audio_packet_leaves_as_soon_as_it_arrives() -> None:
    pc = RTCPeerConnection()
    try:
        stock = pc.addTransceiver("audio", direction="sendrecv").receiver
        ours = pc.addTransceiver("audio", direction="sendrecv").receiver
        assert without_playout_delay(ours)
        # aiortc's own buffer waits for four packets more (80 ms of speech) ...
        assert _released_after(stock, _packets(8)) == 5
        # ... the edge's for none: an Opus frame is one packet.
        assert _released_after(ours, _packets(8)) == 1
    finally:
        await pc.close()


def test_every_packet_leaves_once_and_in_order_late_ones_are_dropped() -> None:
    buffer = PacketPerFrameBuffer()
    packets = _packets(6)
    order = [packets[0], packets[2], packets[1], packets[2], packets[3], packets[5]]
    out = [buffer.add(p)[1] for p in order]
    # The second packet came after the third: too late; the third's repeat likewise.
    assert [f.timestamp if f else None for f in out] == [0, 1920, None, None, 2880, 4800]
    assert buffer.late_packets == 2
    assert all(f.data == b"x" for f in out if f)


def test_sequence_numbers_wrap() -> None:
    buffer = PacketPerFrameBuffer()
    packets = []
    for i, sequence in enumerate([65534, 65535, 0, 1]):
        packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * i)
        packet._data = b"y"  # type: ignore[attr-defined]
        packets.append(packet)
    assert all(buffer.add(p)[1] is not None for p in packets)


async def test_a_dtx_packet_leaves_without_waiting_for_the_next_one() -> None:
    """With DTX the next packet is 400 ms away: waiting for it delayed every end of turn."""
    pc = RTCPeerConnection()
    try:
        ours = pc.addTransceiver("audio", direction="sendrecv").receiver
        assert without_playout_delay(ours)
        buffer = ours._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
        sound, dtx = _packets(2)
        dtx.timestamp = 960 * 11
        dtx._data = b"\x08"  # type: ignore[attr-defined]  # a TOC byte alone
        assert buffer.add(sound)[1] is not None
        frame = buffer.add(dtx)[1]
        assert frame is not None and frame.data == b"\x08" and frame.timestamp == 960 * 11
    finally:
        await pc.close()


def test_a_receiver_without_the_buffer_is_left_alone_and_says_so(caplog) -> None:
    class Other:
        pass

    assert not without_playout_delay(Other())  # type: ignore[arg-type]
    assert "jitter buffer was not found" in caplog.text
