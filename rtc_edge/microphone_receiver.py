"""The student's microphone reaches the edge without aiortc's audio playout delay.

aiortc holds each received audio packet until four more have arrived (``prefetch=4``, about
80 ms) to smooth playback. The edge does not play the student's audio, it recognizes it, and
that delay would come on top of every end of speech and every barge-in. A late or lost packet
stalls aiortc's buffer just the same with or without prefetch (it releases packets only in
order), so prefetch buys the edge nothing.
"""

from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer

logger = logging.getLogger(__name__)

# aiortc keeps the buffer in a private attribute; checked, so an aiortc that moves it only
# costs the 80 ms again (logged), never a broken receiver.
_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_CAPACITY = 16  # aiortc's own for audio


def without_playout_delay(receiver: RTCRtpReceiver) -> bool:
    """Makes ``receiver`` hand on each audio packet as soon as it is in order.

    Call it before media flows. Returns False (and logs) when aiortc's internals differ.
    """
    if not isinstance(getattr(receiver, _ATTRIBUTE, None), JitterBuffer):
        logger.warning("aiortc's audio jitter buffer was not found: the microphone keeps its delay")
        return False
    setattr(receiver, _ATTRIBUTE, JitterBuffer(capacity=_CAPACITY, prefetch=0))
    return True
