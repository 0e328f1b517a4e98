"""A student over WebRTC: an aiortc peer relayed through coturn to the rtc_edge.

Two kinds (``--student``): ``light`` (default) reads the tutor's media at the RTP level and
decodes nothing (``loadtest.rtp_probe``), so one machine can host many; ``decoding`` decodes
every frame (``loadtest.student_probe``). Both speak in real time through their microphone
track. The data channel carries no gateway timings, so every stage here is timed at the client:

- final transcript, first token: the ``transcript`` (final) and first ``assistant_text``
  messages;
- first frame: the first video frame decoded after the edge's ``playback: speaking`` message
  (sent when the answer's first frame goes to the encoder);
- first audio: light: the first audio packet carrying the answer's sound (a level other than
  digital silence; the edge's idle silence has none); decoding: the first decoded frame louder
  than ``LOUD_PEAK``;
- A/V onset offset: first audio minus first frame. Light: on the sender's clock, each mapped
  through its stream's RTCP sender reports (what a browser syncs audio and video by), and by
  arrival; decoding: by arrival of decoded frames;
- frame rate and gaps: the answer's video frames (light: shown at their RTP timestamps, or
  when they arrive if later);
- the gateway's own stage times (``gateway.eos_to_*``, as gRPC students report them): the
  edge passes them on in the ended turn's ``stage_ms``, so a slow answer shows which stage
  (recognition, LLM, TTS, lip-sync, or the edge and network after them) took the time;
- the hops (``hop.*``, see ``TurnSample.hop_ms``): the edge's own times for the turn
  (``edge_s``: last sound forwarded, final transcript read and sent, first frame read and
  playing), on the host's monotonic clock, which the students share.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import grpc

from loadtest.rtp_probe import VIDEO_CLOCK, RtpStudentProbe
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
        # Light students: RTP timestamps of the current answer's first frame and first sound.
        self._first_video_rtp: dict[int, int] = {}  # id(sample) -> RTP timestamp
        self._first_audio_rtp: dict[int, int] = {}

    async def connect(self) -> None:
        created = await self.create_session()
        session_id, token = created.session.session_id, created.engine_token
        config = self.config
        probe: StudentProbe
        if config.student_kind == "light":
            probe = RtpStudentProbe(self.context.edge_url, session_id, token, fps=config.fps)
        else:
            probe = StudentProbe(self.context.edge_url, session_id, token)
        self.probe = probe
        size = config.video_size
        video = {"width": size, "height": size, "fps": config.fps} if size else {"fps": config.fps}
        try:
            status = await probe.connect(video=video)
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

    def tutor_speaking(self) -> bool:
        """The edge still plays an answer (its ``playback`` says ``speaking``)."""
        return self._speaking_since is not None

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
        self._scan_media()

    def _scan_media(self) -> None:
        assert self.probe is not None
        received = self.probe.received
        cursor = self._cursor
        if isinstance(self.probe, RtpStudentProbe):
            self._scan_rtp(self.probe)
            return
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

    def _scan_rtp(self, probe: RtpStudentProbe) -> None:
        rtp, cursor = probe.rtp, self._cursor
        while cursor["video"] < len(rtp.frames):
            frame = rtp.frames[cursor["video"]]
            cursor["video"] += 1
            answer = self._last_answer
            if self._speaking_since is None or frame.arrival < self._speaking_since or not answer:
                continue
            if answer.first_frame_at is None:
                answer.first_frame_at = frame.arrival
                self._first_video_rtp[id(answer)] = frame.rtp_ts
            first_video = self._first_video_rtp.setdefault(id(answer), frame.rtp_ts)
            pts_s = ((frame.rtp_ts - first_video) % 2**32) / VIDEO_CLOCK
            answer.media.add_video(frame.arrival, pts_s)
        while cursor["audio"] < len(rtp.audio):
            packet = rtp.audio[cursor["audio"]]
            cursor["audio"] += 1
            # The answer being heard: still the interrupted one until its sound stops.
            answer = self.playing or self._last_answer
            if answer is None or not packet.sounding or packet.arrival <= answer.speech_end:
                continue
            if answer.first_audio_at is None:
                answer.first_audio_at = packet.arrival
                self._first_audio_rtp[id(answer)] = packet.rtp_ts
            answer.last_media_at = packet.arrival

    def _av_onset(self, sample: TurnSample) -> None:
        """The answer's A/V onset offset, once it has a first frame and a first sound."""
        if not (sample.first_audio_at and sample.first_frame_at):
            return
        arrival_ms = (sample.first_audio_at - sample.first_frame_at) * 1000
        if not isinstance(self.probe, RtpStudentProbe):
            sample.av_onset_ms = arrival_ms
            return
        sample.av_onset_arrival_ms = arrival_ms
        video_ts = self._first_video_rtp.get(id(sample), -1)
        audio_ts = self._first_audio_rtp.get(id(sample), -1)
        rtp = self.probe.rtp
        video_s = rtp.video_clock.presentation_s(video_ts) if video_ts >= 0 else None
        audio_s = rtp.audio_clock.presentation_s(audio_ts) if audio_ts >= 0 else None
        if video_s is not None and audio_s is not None:
            sample.av_onset_ms = (audio_s - video_s) * 1000

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
                self._scan_media()  # media that arrived before this message belong to the turn
                sample = self.on_turn_ended(turn_id, event, at)
                if sample is not None:
                    self._av_onset(sample)
                    sample.gateway_ms = _gateway_stages(message.get("stage_ms"))
                    sample.edge_at = _edge_times(message.get("edge_s"))
                    stalled = message.get("stalled_ms")
                    if isinstance(stalled, int | float):
                        sample.stalled_ms = float(stalled)
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


def _gateway_stages(stage_ms: object) -> dict[str, float]:
    """The edge's ``stage_ms`` (the gateway's TurnTimings from end of speech) as the report's
    ``gateway.eos_to_*`` stages, the names gRPC students give them."""
    if not isinstance(stage_ms, dict):
        return {}
    return {
        f"eos_to_{name}": float(ms)
        for name, ms in stage_ms.items()
        if isinstance(name, str) and isinstance(ms, int | float)
    }


def _edge_times(edge_s: object) -> dict[str, float]:
    """The edge's ``edge_s`` (when it passed on the turn's moments, ``time.monotonic()``
    seconds: this host's clock, the one the samples use)."""
    if not isinstance(edge_s, dict):
        return {}
    return {
        name: float(at)
        for name, at in edge_s.items()
        if isinstance(name, str) and isinstance(at, int | float)
    }


def _status_name(code: object) -> str:
    names = {c.value[0]: c.name for c in grpc.StatusCode}
    return names.get(code, str(code)) if isinstance(code, int) else str(code)
