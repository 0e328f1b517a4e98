"""A student over WebRTC: an aiortc peer relayed through coturn to the rtc_edge.

It reuses ``loadtest.student_probe``: its microphone track speaks in real time and it records
the time of every decoded video and audio frame and data channel message. The data channel
carries no gateway timings, so every stage here is timed at the client:

- final transcript, first token: the ``transcript`` (final) and first ``assistant_text``
  messages;
- first frame: the first video frame decoded after the edge's ``playback: speaking`` message
  (sent when the answer's first frame goes to the encoder);
- first audio: the first decoded audio frame louder than ``LOUD_PEAK`` after the end of speech;
- A/V onset offset: first audio minus first frame; frame rate and gaps: decoded video frames
  while the answer plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import grpc

from loadtest.samples import TurnSample
from loadtest.student import POLL_S, RunContext, Student, StudentFailed, until
from loadtest.student_probe import StudentProbe
from loadtest.utterances import SAMPLE_RATE

LOUD_PEAK = 1000.0  # of 32767: decoded Opus silence stays far below, speech far above
_ENDED = {"completed", "interrupted", "failed"}


class WebRtcStudent(Student):
    """A student in a WebRTC call with the tutor."""

    def __init__(self, index: int, context: RunContext) -> None:
        super().__init__(index, context)
        self.probe: StudentProbe | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._cursor = {"messages": 0, "video": 0, "audio": 0}
        self._speaking_since: float | None = None
        self._last_answer: TurnSample | None = None

    async def connect(self) -> None:
        created = await self.create_session()
        probe = StudentProbe(
            self.context.edge_url, created.session.session_id, created.engine_token
        )
        self.probe = probe
        try:
            status = await probe.connect()
        except OSError as exc:
            raise StudentFailed("UNAVAILABLE", f"edge unreachable: {exc}") from exc
        if status != 200:
            raise StudentFailed(f"HTTP_{status}", "the edge refused the offer")
        try:
            await asyncio.wait_for(probe.channel_open.wait(), 30)
        except TimeoutError as exc:
            raise StudentFailed("CLIENT_TIMEOUT", "the data channel did not open") from exc
        self._watcher = asyncio.create_task(self._watch())

    async def speak(self, pcm: bytes, started: Callable[[float], None]) -> tuple[float, float]:
        assert self.probe is not None and self.probe.microphone is not None
        microphone = self.probe.microphone
        microphone.say(pcm, SAMPLE_RATE)
        # The track sends what is queued from its next 20 ms frame on.
        start = time.monotonic() + 0.02
        started(start)
        await until(lambda: microphone.speech_end is not None, len(pcm) / 2 / SAMPLE_RATE + 10)
        return start, microphone.speech_end or time.monotonic()

    async def _watch(self) -> None:
        while True:
            self._scan()
            await asyncio.sleep(POLL_S)

    def _scan(self) -> None:
        assert self.probe is not None
        received = self.probe.received
        cursor = self._cursor
        while cursor["messages"] < len(received.message_times):
            i = cursor["messages"]
            self._on_message(received.messages[i], received.message_times[i])
            cursor["messages"] += 1
        while cursor["video"] < len(received.video):
            at, _luma = received.video[cursor["video"]]
            cursor["video"] += 1
            answer = self._last_answer
            if self._speaking_since is not None and at >= self._speaking_since and answer:
                if answer.first_frame_at is None:
                    answer.first_frame_at = at
                answer.media.add_arrival(at)
        while cursor["audio"] < len(received.audio):
            at, peak = received.audio[cursor["audio"]]
            cursor["audio"] += 1
            answer = self.playing
            if answer is not None and peak > LOUD_PEAK and at > answer.speech_end:
                if answer.first_audio_at is None:
                    answer.first_audio_at = at
                answer.last_media_at = at

    def _on_message(self, message: dict[str, object], at: float) -> None:
        kind = message.get("type")
        turn_id = str(message.get("turn_id", ""))
        if kind == "transcript" and message.get("final"):
            self.on_final_transcript(turn_id, at)
        elif kind == "assistant_text":
            sample = self.by_turn.get(turn_id)
            if sample is not None and sample.first_token_at is None:
                sample.first_token_at = at
        elif kind == "turn":
            event = str(message.get("event"))
            if event == "started":
                self.on_turn_started(turn_id)
                self._last_answer = self.playing
            elif event in _ENDED:
                sample = self.on_turn_ended(turn_id, event, at)
                if sample is not None and sample.first_audio_at and sample.first_frame_at:
                    sample.av_onset_ms = (sample.first_audio_at - sample.first_frame_at) * 1000
        elif kind == "playback":
            if message.get("state") == "speaking":
                self._speaking_since = at
            else:
                self._speaking_since = None
                if self._last_answer is not None:
                    self._last_answer.last_media_at = at
                    self._last_answer = None
        elif kind == "error":
            self.on_error(_status_name(message.get("code")), "")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.probe is not None:
            with contextlib.suppress(Exception):
                await self.probe.close_via_edge()
            await self.probe.close()


def _status_name(code: object) -> str:
    names = {c.value[0]: c.name for c in grpc.StatusCode}
    return names.get(code, str(code)) if isinstance(code, int) else str(code)
