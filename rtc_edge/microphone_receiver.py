"""The student's microphone reaches the edge without aiortc's audio playout delay.

aiortc holds each received audio packet until four more have arrived (``prefetch=4``, about
80 ms) to smooth playback, and even without prefetch until the next packet arrives: its buffer
knows a frame is whole only when a packet of the next one comes. The edge does not play the
student's audio, it recognizes it, and that delay would come on top of every end of speech and
every barge-in: 20 ms for each, and with Opus DTX (``microphone_dtx``) the 400 ms to the next
DTX packet. An Opus frame is always one RTP packet (RFC 7587 4.2), so the edge's buffer hands
each packet on the moment it arrives, unless it is older than one already handed on (a late
or repeated packet, which the decoder could not use in its place anyway).
"""

from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

logger = logging.getLogger(__name__)

# aiortc keeps the buffer in a private attribute; checked, so an aiortc that moves it only
# costs the delay again (logged), never a broken receiver.
_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_CAPACITY = 16  # aiortc's own for audio


class PacketPerFrameBuffer(JitterBuffer):
    """An audio receiver's buffer for codecs that put each frame in one packet (Opus): every
    packet newer than the last one handed on is handed on as it arrives."""

    def __init__(self) -> None:
        super().__init__(capacity=_CAPACITY)
        self._last: int | None = None
        self.late_packets = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._last is not None:
            ahead = uint16_add(packet.sequence_number, -self._last)
            if ahead == 0 or ahead >= 0x8000:  # a repeat, or older than one handed on
                self.late_packets += 1
                return False, None
        self._last = packet.sequence_number
        data: bytes = getattr(packet, "_data", packet.payload)  # depacketized by the receiver
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def without_playout_delay(receiver: RTCRtpReceiver) -> bool:
    """Makes ``receiver`` hand on each audio packet as soon as it arrives in order.

    Call it before media flows. Returns False (and logs) when aiortc's internals differ.
    """
    if not isinstance(getattr(receiver, _ATTRIBUTE, None), JitterBuffer):
        logger.warning("aiortc's audio jitter buffer was not found: the microphone keeps its delay")
        return False
    setattr(receiver, _ATTRIBUTE, PacketPerFrameBuffer())
    return True
