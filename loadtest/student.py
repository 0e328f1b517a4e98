"""A simulated student's behaviour, whatever carries its voice: ask, listen, think, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from loadtest.config import LoadTestConfig
from loadtest.recorder import Recorder
from loadtest.samples import TurnSample
from loadtest.utterances import Utterance

POLL_S = 0.02


@dataclass
class RunContext:
    """What every student of a run shares."""

    config: LoadTestConfig
    utterances: list[Utterance]
    recorder: Recorder
    gateway: gateway_pb2_grpc.GatewayServiceStub
    api_key: str
    deadline: float  # time.monotonic() after which no new question starts
    edge_url: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # When questions may start: set (with ``deadline``) once every student has connected and
    # the listening phase is over. Students in worker processes learn it from ``go_file``.
    talk_at: float = 0.0
    go: asyncio.Event = field(default_factory=asyncio.Event)
    go_file: str = ""
    gateway_address: str = ""  # for students in other processes

    def start_talking(self, at: float) -> None:
        """Lets the questions start now (``at``); the run's deadline follows from it."""
        self.talk_at = at
        self.deadline = at + self.config.duration_s
        self.go.set()

    async def wait_for_go(self) -> None:
        """Returns once the questions may start."""
        while not self.go.is_set():
            if self.go_file:
                at = _read_time(self.go_file)
                if at is not None:
                    self.start_talking(at)
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.go.wait(), POLL_S * 5 if self.go_file else None)

    def tutor(self) -> gateway_pb2.TutorProfile:
        """The tutor every student talks to; the questions are its ASR phrase hints."""
        return gateway_pb2.TutorProfile(
            tutor_id="loadtest",
            display_name="Load test tutor",
            system_prompt="You are a friendly science tutor.",
            language_code="en-US",
            video_enabled=self.config.video,
            phrase_hints=[u.text for u in self.utterances if u.text],
        )


def _read_time(path: str) -> float | None:
    """The time a go file holds; None while it does not exist."""
    try:
        return float(Path(path).read_text())
    except FileNotFoundError:
        return None


class StudentFailed(Exception):
    """The student could not start (``status`` says why, as a gRPC status or HTTP name)."""

    def __init__(self, status: str, detail: str = "") -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


async def until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Polls ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


class Student(ABC):
    """One student: a session, then questions until the run's deadline.

    Subclasses carry the voice and bring back what the tutor says, filling in the samples in
    ``pending`` (spoken, no turn yet) and ``by_turn``.
    """

    def __init__(self, index: int, context: RunContext) -> None:
        self.index = index
        self.context = context
        self.config = context.config
        self.recorder = context.recorder
        self.rng = random.Random(context.config.seed * 1000 + index)
        self.pending: deque[TurnSample] = deque()
        self.by_turn: dict[str, TurnSample] = {}
        self.playing: TurnSample | None = None

    async def create_session(self) -> gateway_pb2.CreateSessionResponse:
        """A session on the gateway's control plane, with the service credential.

        Raises:
            StudentFailed: The gateway refused.
        """
        request = gateway_pb2.CreateSessionRequest(
            tenant_id="loadtest", student_id=f"student-{self.index}", tutor=self.context.tutor()
        )
        try:
            created: gateway_pb2.CreateSessionResponse = await self.context.gateway.CreateSession(
                request,
                metadata=(("authorization", f"Bearer {self.context.api_key}"),),
                timeout=15,
            )
        except grpc.aio.AioRpcError as exc:
            raise StudentFailed(exc.code().name, str(exc.details())) from exc
        self.recorder.sessions_created += 1
        return created

    @abstractmethod
    async def connect(self) -> None:
        """Creates the session and opens the transport.

        Raises:
            StudentFailed: It could not.
        """

    @abstractmethod
    async def speak(self, pcm: bytes, started: Callable[[float], None]) -> tuple[float, float]:
        """Speaks ``pcm`` in real time; calls ``started`` with the first sample's time.

        Returns:
            (start, end) of the speech, ``time.monotonic()``.
        """

    @abstractmethod
    async def close(self) -> None:
        """Ends the conversation and releases the transport."""

    def tutor_speaking(self) -> bool:
        """Whether the tutor is still heard after its answer ended at the gateway (a transport
        with its own playout says so; gRPC media come paced, and end with the turn)."""
        return False

    async def run(self) -> None:
        """Connects, converses until the deadline, lets the last turn finish, closes."""
        try:
            await self.connect()
        except StudentFailed as exc:
            self.recorder.error(exc.status)
            self.recorder.students_settled += 1
            return
        self.recorder.students_active += 1
        self.recorder.students_settled += 1
        try:
            await self._converse()
        finally:
            self.recorder.students_active -= 1
            await self.close()

    async def _converse(self) -> None:
        config = self.config
        await self.context.wait_for_go()
        # A moment of microphone silence first, as a person would; and the first questions
        # spread over the ramp-up as the students joined (the listening phase, which ends for
        # everyone at once, must not line them all up on one instant).
        await asyncio.sleep(0.5 + config.ramp_up_s * self.index / config.students)
        interrupted: TurnSample | None = None
        asked = 0
        while time.monotonic() < self.context.deadline and not self.context.stop.is_set():
            if config.max_turns_per_student and asked >= config.max_turns_per_student:
                break
            utterance = self.context.utterances[(self.index + asked) % len(self.context.utterances)]
            sample = TurnSample(self.index, asked, utterance.name)
            self.pending.append(sample)
            self.recorder.add(sample)
            barged = interrupted

            def started(at: float, barged: TurnSample | None = barged) -> None:
                if barged is not None and not barged.finished:
                    barged.barge_in_at = at

            sample.speech_start, sample.speech_end = await self.speak(utterance.pcm, started)
            asked += 1
            interrupted = None
            if (
                config.barge_in_every
                and asked % config.barge_in_every == 0
                and time.monotonic() < self.context.deadline
                and await self._barge_in_point(sample)
            ):
                interrupted = sample
                continue  # the next question interrupts this answer
            await self._wait_finished(sample)
            # A student asks again once the tutor has stopped talking, not when the answer was
            # all sent: a busy edge may still play seconds of it, and a question asked over it
            # queues its answer behind that tail.
            await until(lambda: not self.tutor_speaking(), config.turn_timeout_s)
            await asyncio.sleep(config.think_time_s * self.rng.uniform(0.5, 1.5))
        # Questions in flight finish (interrupted ones end when their interruption is heard).
        for sample in self.recorder.samples:
            if sample.student == self.index and sample.index >= 0:
                await self._wait_finished(sample)

    async def _barge_in_point(self, sample: TurnSample) -> bool:
        """Waits until the answer has played ``barge_in_after_s``; False if it ended first."""
        answered = await until(
            lambda: (
                sample.first_frame_at is not None
                or sample.first_audio_at is not None
                or sample.finished
            ),
            self.config.turn_timeout_s,
        )
        if not answered or sample.finished:
            return False
        await asyncio.sleep(self.config.barge_in_after_s)
        return not sample.finished

    async def _wait_finished(self, sample: TurnSample) -> None:
        remaining = sample.speech_end + self.config.turn_timeout_s - time.monotonic()
        if sample.finished or await until(lambda: sample.finished, max(remaining, 0.0)):
            return
        if sample.outcome == "unanswered" and sample.error != "CLIENT_TIMEOUT":
            sample.error = "CLIENT_TIMEOUT"
            self.recorder.error("CLIENT_TIMEOUT")
        if sample in self.pending:
            self.pending.remove(sample)  # later transcripts must not be taken for its answer

    # What the transport reports ---------------------------------------------------------------

    def on_final_transcript(self, turn_id: str, at: float) -> None:
        """A final transcript that starts turn ``turn_id`` arrived."""
        if not turn_id:
            return  # recognized, but no turn (nothing said, or backchannel over the tutor)
        if self.pending:
            sample = self.pending.popleft()
        else:  # the recognizer heard a turn we did not ask (a question split in two)
            sample = TurnSample(self.index, -1, "(unexpected)")
            self.recorder.add(sample)
            self.recorder.unexpected_turns += 1
        sample.turn_id = turn_id
        sample.final_transcript_at = at
        self.by_turn[turn_id] = sample

    def on_turn_started(self, turn_id: str) -> None:
        """The gateway started a turn: media from now on is its answer."""
        self.playing = self.by_turn.get(turn_id)

    def on_turn_ended(self, turn_id: str, outcome: str, at: float) -> TurnSample | None:
        """A turn completed, was interrupted or failed."""
        sample = self.by_turn.get(turn_id)
        if sample is None:
            return None
        sample.outcome = outcome
        sample.end_at = at
        if outcome == "interrupted":
            sample.interrupted_at = at
        if self.playing is sample:
            self.playing = None
        return sample

    def on_error(self, status: str, turn_id: str) -> None:
        """The tutor reported an error."""
        self.recorder.error(status)
        sample = self.by_turn.get(turn_id) if turn_id else None
        if sample is not None:
            sample.error = status
