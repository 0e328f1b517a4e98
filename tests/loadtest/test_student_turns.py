"""A simulated student asks again only once the tutor has stopped talking."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from loadtest.config import LoadTestConfig
from loadtest.recorder import Recorder
from loadtest.student import RunContext, Student
from loadtest.utterances import Utterance
from loadtest.webrtc_student import WebRtcStudent

pytestmark = pytest.mark.unit

TAIL_S = 0.4


class TutorWithATail(Student):
    """A transport (in memory) whose tutor ends each turn as soon as the question is asked,
    and goes on being heard for ``TAIL_S`` after: as an edge plays the buffered end of an
    answer the gateway has finished sending."""

    def __init__(self, index: int, context: RunContext) -> None:
        super().__init__(index, context)
        self.asked: list[float] = []
        self.heard_until = 0.0

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def speak(self, pcm: bytes, started: Callable[[float], None]) -> tuple[float, float]:
        now = time.monotonic()
        started(now)
        self.asked.append(now)
        turn_id = f"turn-{len(self.asked)}"
        self.on_final_transcript(turn_id, now)
        self.on_turn_started(turn_id)
        self.on_turn_ended(turn_id, "completed", now)
        self.heard_until = now + TAIL_S
        return now, now

    def tutor_speaking(self) -> bool:
        return time.monotonic() < self.heard_until


async def test_the_next_question_waits_for_the_end_of_the_answer_not_of_its_sending() -> None:
    config = LoadTestConfig(
        students=1, ramp_up_s=0, duration_s=30, think_time_s=0, max_turns_per_student=3
    )
    context = RunContext(
        config=config,
        utterances=[Utterance("q", "what is a volcano", b"\0\0" * 160)],
        recorder=Recorder(),
        gateway=None,  # type: ignore[arg-type]
        api_key="",
        deadline=time.monotonic() + 30,
    )
    context.start_talking(time.monotonic())
    student = TutorWithATail(0, context)
    await asyncio.wait_for(student.run(), 10)
    assert len(student.asked) == 3
    gaps = [b - a for a, b in zip(student.asked, student.asked[1:], strict=False)]
    assert min(gaps) >= TAIL_S


def test_a_webrtc_student_hears_the_tutor_until_the_edge_says_listening() -> None:
    context = RunContext(LoadTestConfig(mode="webrtc"), [], Recorder(), None, "", 0)  # type: ignore[arg-type]
    student = WebRtcStudent(0, context)
    assert not student.tutor_speaking()
    student._on_message({"type": "playback", "state": "speaking"}, 1.0)
    assert student.tutor_speaking()
    student._on_message({"type": "playback", "state": "listening"}, 2.0)
    assert not student.tutor_speaking()
