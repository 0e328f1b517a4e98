"""The student's microphone with Opus DTX: asked for in the answer, its silence made by the edge."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from loadtest.student_probe import SpeechTrack, answer_asks_for_dtx, opus_dtx, opus_silence
from rtc_edge import microphone
from rtc_edge.microphone import DecodeOnTheLoop, QuietBatching, forward_microphone
from rtc_edge.microphone_dtx import (
    DtxPacket,
    DtxSilence,
    asks_for_opus_dtx,
    is_dtx,
    with_opus_dtx,
)

pytestmark = pytest.mark.unit

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
PIECE = 640  # 20 ms at 16 kHz, s16le


async def _answer_sdp() -> tuple[str, str]:
    """An offer with audio (Opus and others) and video, and aiortc's answer to it."""
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    try:
        offerer.addTrack(SpeechTrack())
        offerer.addTransceiver("video", direction="recvonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        answerer.addTransceiver("audio", direction="sendrecv")
        answerer.addTransceiver("video", direction="sendonly")
        await answerer.setRemoteDescription(offerer.localDescription)
        answer = await answerer.createAnswer()
        return offerer.localDescription.sdp, answer.sdp
    finally:
        await offerer.close()
        await answerer.close()


def test_the_answer_asks_for_dtx_on_opus_alone() -> None:
    offer, answer = asyncio.run(_answer_sdp())
    assert not asks_for_opus_dtx(answer) and not answer_asks_for_dtx(answer)
    asked = with_opus_dtx(answer)
    assert asks_for_opus_dtx(asked) and answer_asks_for_dtx(asked)  # edge and student agree
    fmtp = [line for line in asked.splitlines() if line.startswith("a=fmtp:")]
    rtpmap = {
        line.split()[0].removeprefix("a=rtpmap:"): line.split()[1]
        for line in asked.splitlines()
        if line.startswith("a=rtpmap:")
    }
    dtx_types = [line.split()[0].removeprefix("a=fmtp:") for line in fmtp if "usedtx=1" in line]
    assert [rtpmap[t] for t in dtx_types] == ["opus/48000/2"]
    # Nothing else changed: the same lines, less the new parameter.
    assert [x for x in asked.splitlines() if "usedtx" not in x] == [
        x for x in answer.splitlines() if not x.startswith(f"a=fmtp:{dtx_types[0]}")
    ]
    assert not asks_for_opus_dtx(offer)


def test_only_a_toc_byte_or_two_is_dtx() -> None:
    assert is_dtx(opus_dtx()) and len(opus_dtx()) == 1
    assert not is_dtx(opus_silence())


def test_silence_is_made_in_whole_pieces_as_time_passes() -> None:
    silence = DtxSilence(16000)
    assert not silence.active and silence.fill(5.0) == b""
    assert silence.start(10.0) == bytes(PIECE)  # the DTX packet's own 20 ms, at once
    assert silence.active and silence.start(10.01) == b""  # a later DTX packet: no more
    assert silence.due_in(10.0) == pytest.approx(0.02)
    assert silence.fill(10.019) == b""
    assert silence.fill(10.05) == bytes(2 * PIECE)  # 40 of the 50 ms: whole pieces only
    assert silence.fill(10.06) == bytes(PIECE)
    assert silence.due_in(10.3, step_s=0.2) == 0.0
    silence.stop()
    assert not silence.active and silence.fill(11.0) == b""


def test_a_dtx_packet_is_not_decoded_but_marks_the_silence() -> None:
    async def run() -> list[Any]:
        track_queue: asyncio.Queue[Any] = asyncio.Queue()
        decoding = DecodeOnTheLoop(track_queue)
        decoding.put((OPUS, JitterFrame(opus_silence(), 0)))
        decoding.put((OPUS, JitterFrame(opus_dtx(), 960)))
        decoding.put((OPUS, JitterFrame(opus_silence(), 960 * 21)))
        assert decoding.decoded == 2 and decoding.dtx_packets == 1
        return [track_queue.get_nowait() for _ in range(3)]

    first, dtx, after = asyncio.run(run())
    assert isinstance(first, av.AudioFrame) and isinstance(after, av.AudioFrame)
    assert dtx == DtxPacket(960)


class _QueueTrack(MediaStreamTrack):
    """A microphone track fed by the test (None ends it)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def recv(self) -> Any:
        item = await self.queue.get()
        if item is None:
            raise MediaStreamError
        return item


def _sound_frame() -> av.AudioFrame:
    t = np.arange(960) / 48000
    samples = (8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = 48000
    return frame


def test_the_edge_makes_the_silence_of_dtx_until_sound_comes() -> None:
    now = [100.0]
    sent: list[bytes] = []
    sound_sent: list[int] = []  # how many chunks had been sent at each sound (hop times)

    async def run() -> None:
        track = _QueueTrack()
        forwarding = asyncio.ensure_future(
            forward_microphone(
                track,
                sent.append,
                target_rate=48000,  # no resampling: each frame comes out as it went in
                batching=QuietBatching(batch_ms=0),
                clock=lambda: now[0],
                on_sound=lambda: sound_sent.append(len(sent)),
            )
        )
        await track.queue.put(_sound_frame())
        await track.queue.put(DtxPacket(960))
        await asyncio.sleep(0.01)
        now[0] += 0.1  # 100 ms of DTX on the edge's clock: five pieces due
        await asyncio.sleep(0.1)  # (the forwarder wakes for them, and finds no more due)
        await track.queue.put(_sound_frame())
        await track.queue.put(DtxPacket(1920))  # silent again
        await asyncio.sleep(0.01)
        await track.queue.put(None)
        await asyncio.wait_for(forwarding, 5)

    asyncio.run(run())
    piece = 1920  # 20 ms at 48 kHz
    zeros = [len(c) // piece for c in sent if c == bytes(len(c))]
    sounds = [i for i, c in enumerate(sent) if c != bytes(len(c))]
    assert len(sounds) == 2 and all(len(sent[i]) == piece for i in sounds)
    # Between the two sounds: the DTX packet's piece, then the five due (in any grouping).
    between = sent[sounds[0] + 1 : sounds[1]]
    assert all(c == bytes(len(c)) and len(c) % piece == 0 for c in between)
    assert sum(len(c) for c in between) == 6 * piece
    assert sum(zeros) == 6 + 1  # and the second DTX packet's piece: no time passed after it
    # The edge noted each sound right after sending it, and no silence.
    assert sound_sent == [i + 1 for i in sounds]


def test_a_silent_student_sends_dtx_and_the_edge_still_hears_silence() -> None:
    """A student microphone (the load test's, as a browser's Opus) in DTX over a real peer
    connection: few packets, and the edge's forwarder gives the gateway silence throughout."""
    from rtc_edge.microphone import decode_on_the_loop
    from rtc_edge.microphone_receiver import without_playout_delay

    async def run() -> tuple[int, int, int, float]:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        speaker = SpeechTrack()
        sender.addTrack(speaker)
        sent: list[bytes] = []
        decoders: list[DecodeOnTheLoop] = []
        tasks: list[asyncio.Future[None]] = []

        def on_track(track: MediaStreamTrack) -> None:
            (rtp_receiver,) = [r for r in receiver.getReceivers() if r.track is track]
            # As the edge's receiver: aiortc's prefetch would hold a DTX packet for 4 more.
            assert without_playout_delay(rtp_receiver) and decode_on_the_loop(rtp_receiver)
            decoders.append(getattr(rtp_receiver, microphone._DECODER_QUEUE))
            batching = QuietBatching(batch_ms=0)
            tasks.append(
                asyncio.ensure_future(forward_microphone(track, sent.append, batching=batching))
            )

        receiver.on("track", on_track)
        try:
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            answer = await receiver.createAnswer()
            await receiver.setLocalDescription(
                type(answer)(sdp=with_opus_dtx(answer.sdp), type=answer.type)
            )
            await sender.setRemoteDescription(receiver.localDescription)
            speaker.opus = True
            speaker.dtx = answer_asks_for_dtx(receiver.localDescription.sdp)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(2.0)
            elapsed = loop.time() - started
        finally:
            for task in tasks:
                task.cancel()
            await sender.close()
            await receiver.close()
        audio = b"".join(sent)
        return decoders[0].decoded, decoders[0].dtx_packets, len(audio) // 2, elapsed

    decoded, dtx_packets, samples, elapsed = asyncio.run(asyncio.wait_for(run(), 30))
    # The hangover's packets, then a DTX packet every 400 ms: far fewer than 100.
    assert 1 <= dtx_packets <= 6 and decoded <= 12
    # Yet about as much audio (all silence) as the time that passed.
    assert 0.6 * elapsed * 16000 <= samples <= 1.1 * elapsed * 16000
