"""The student's microphone with Opus DTX: no packets while the student is silent.

A listening student's microphone is silent most of the time, and each of its 50 packets a
second costs coturn a relay, the edge a receive, SRTP decryption, jitter buffer and decode,
and the student's browser an encode and a send (issue 20). With DTX (RFC 7587 3.1.3) an Opus
sender in silence sends one packet of at most 2 bytes (its TOC byte alone) every 400 ms and
nothing between. A browser does it when the receiver's SDP asks (``usedtx=1`` in the Opus
``fmtp``); the edge asks in its answer (``with_opus_dtx``) when its microphone can take it.

What the edge must then do itself is the silence: ASR ends a turn after hearing enough of it,
and hears only what the edge sends. So a DTX packet (``DtxPacket``, put in the track's queue
in place of a decoded frame) starts ``DtxSilence``: zeros at the gateway's rate, made in real
time on the edge's clock (in 20 ms pieces, as the packets would have come, or in the quiet
batches once those begin) until the student's next sound packet arrives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiortc.sdp import SessionDescription

# Packets this small are DTX (what WebRTC's NetEq assumes too): a TOC byte and no frame data.
DTX_MAX_BYTES = 2
FRAME_S = 0.02  # the silence is made in the 20 ms pieces a sender's packets would carry


@dataclass(frozen=True)
class DtxPacket:
    """A DTX packet arrived: the student is silent until its next sound packet.

    Attributes:
        pts: Its RTP timestamp (48 kHz for Opus).
    """

    pts: int


def is_dtx(payload: bytes) -> bool:
    """Whether an Opus payload is a DTX packet (a TOC byte, no frame data)."""
    return len(payload) <= DTX_MAX_BYTES


class DtxSilence:
    """The silence a microphone in DTX stands for, made on the edge's clock.

    ``start`` when a DTX packet arrives (again: no effect), ``stop`` when sound comes back;
    between them ``fill(now)`` gives the zeros due since the last fill, in whole pieces.
    """

    def __init__(self, rate: int) -> None:
        self._piece_bytes = 2 * round(rate * FRAME_S)
        self._sent_until: float | None = None

    @property
    def active(self) -> bool:
        """Whether the microphone is in DTX (silence is being made)."""
        return self._sent_until is not None

    def start(self, now: float) -> bytes:
        """A DTX packet arrived at ``now``; returns the silence it stands for at once (one
        piece) when DTX begins, b"" when it was on already."""
        if self._sent_until is not None:
            return b""
        self._sent_until = now
        return bytes(self._piece_bytes)

    def stop(self) -> None:
        """Sound came back: no more silence is made."""
        self._sent_until = None

    def fill(self, now: float) -> bytes:
        """The whole pieces of silence due by ``now`` and not given yet (b"" outside DTX)."""
        if self._sent_until is None:
            return b""
        pieces = math.floor((now - self._sent_until) / FRAME_S + 1e-9)
        if pieces <= 0:
            return b""
        self._sent_until += pieces * FRAME_S
        return bytes(pieces * self._piece_bytes)

    def due_in(self, now: float, step_s: float = FRAME_S) -> float:
        """Seconds until ``step_s`` of silence will be due (0 when it is already)."""
        if self._sent_until is None:
            return math.inf
        return max(0.0, self._sent_until + step_s - now)


def with_opus_dtx(sdp: str) -> str:
    """``sdp`` with ``usedtx=1`` on each audio section's Opus codec: asks the other side to
    send Opus DTX in silence. Other codecs and sections are left as they are."""
    description = SessionDescription.parse(sdp)
    for media in description.media:
        if media.kind != "audio":
            continue
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() == "audio/opus":
                codec.parameters["usedtx"] = 1
    return str(description)


def asks_for_opus_dtx(sdp: str) -> bool:
    """Whether ``sdp`` asks for Opus DTX on its (first) audio section."""
    description = SessionDescription.parse(sdp)
    for media in description.media:
        if media.kind == "audio":
            return any(
                codec.mimeType.lower() == "audio/opus"
                and str(codec.parameters.get("usedtx")) == "1"
                for codec in media.rtp.codecs
            )
    return False
