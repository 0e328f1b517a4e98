"""Settings of a load test run (from the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["grpc", "webrtc"]
StudentKind = Literal["light", "decoding"]
MAX_STUDENTS = 200
MAX_DURATION_S = 3600.0


@dataclass(frozen=True)
class LoadTestConfig:
    """How many students, for how long, and how they behave.

    Students start spread evenly over ``ramp_up_s``. Each asks a question (in real time),
    waits for the whole answer, thinks for ``think_time_s`` (±50 %, seeded), and asks the
    next, until ``duration_s`` after the run began (ramp-up included); questions in flight
    then finish. With ``barge_in_every`` = N, every Nth question is interrupted by the next
    one ``barge_in_after_s`` after its answer's first frame (or audio) arrived.
    """

    mode: Mode = "grpc"
    students: int = 4
    ramp_up_s: float = 2.0
    duration_s: float = 30.0
    think_time_s: float = 2.0
    barge_in_every: int = 0
    barge_in_after_s: float = 1.0
    turn_timeout_s: float = 45.0
    max_turns_per_student: int = 0
    video: bool = True
    video_size: int = 128
    fps: int = 25
    seed: int = 1
    # WebRTC students: "light" reads RTP and decodes nothing; "decoding" decodes every frame.
    student_kind: StudentKind = "light"
    # Seconds every connected student listens in silence before the first question (the
    # listening phase of the CPU report); 0: questions start as soon as a student connects.
    listen_s: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.students <= MAX_STUDENTS:
            raise ValueError(f"students must be 1-{MAX_STUDENTS}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S:g}] s")
        if self.ramp_up_s < 0 or self.ramp_up_s > self.duration_s:
            raise ValueError("ramp-up must be between 0 and the duration")
        if self.think_time_s < 0 or self.barge_in_every < 0 or self.barge_in_after_s < 0:
            raise ValueError("think time, barge-in interval and delay must not be negative")
        if self.turn_timeout_s <= 0:
            raise ValueError("turn timeout must be positive")
        if self.listen_s < 0 or self.listen_s > self.duration_s:
            raise ValueError("the listening phase must be between 0 and the duration")
        if self.video_size < 0 or self.video_size % 2:
            raise ValueError("video size must be even (0: the avatar's own)")
