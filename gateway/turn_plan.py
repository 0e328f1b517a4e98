"""What a turn will do: the LLM request for the student's text, and how the answer is spoken."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.converse_inputs import ConverseOptions
from gateway.sessions import TutorProfile
from gateway.upstream.lipsync_client import AnimationSettings
from gateway.upstream.llm_client import ChatMessage, GenerationRequest
from gateway.upstream.tts_client import VoiceSettings


@dataclass(frozen=True)
class SpeechPlan:
    """How a turn's answer is spoken; ``video`` None means audio only (no lip-sync)."""

    voice: VoiceSettings
    video: AnimationSettings | None = None


@dataclass(frozen=True)
class TurnPlan:
    """Everything a turn needs to run."""

    turn_id: str
    user_text: str
    generation: GenerationRequest
    speech: SpeechPlan | None = None  # None: text only


def tutor_generation(
    tutor: TutorProfile,
    history: Sequence[ChatMessage],
    text: str,
    *,
    input_confidence: float | None = None,
) -> GenerationRequest:
    """What to ask the LLM for a student's ``text``: the tutor's prompt, the history, the text,
    and for spoken text the recognizer's confidence in it (the tutor asks back when it is low)."""
    system = [ChatMessage("system", tutor.system_prompt)] if tutor.system_prompt else []
    return GenerationRequest(
        messages=(*system, *history, ChatMessage("user", text)),
        model=tutor.llm_model,
        knowledge_base_id=tutor.knowledge_base_id,
        input_confidence=input_confidence,
    )


def speech_plan(
    tutor: TutorProfile, options: ConverseOptions, *, start_idle_index: int = 0
) -> SpeechPlan | None:
    """How answers are spoken on a stream with these options; None for text only.
    ``start_idle_index``: the idle-loop frame the answer's first frame continues from."""
    if not (options.send_audio or options.send_video):
        return None
    rate = options.output_sample_rate_hz
    video = None
    if options.send_video:
        video = AnimationSettings(
            sample_rate_hz=rate,
            avatar_id=tutor.avatar_id,
            fps=options.fps,
            pixel_format=options.pixel_format,
            width=options.width,
            height=options.height,
            start_idle_index=start_idle_index,
        )
    return SpeechPlan(
        VoiceSettings(rate, voice=tutor.voice, language_code=tutor.language_code), video
    )


def plan_turn(
    turn_id: str,
    text: str,
    *,
    tutor: TutorProfile,
    history: Sequence[ChatMessage],
    options: ConverseOptions,
    input_confidence: float | None = None,
    start_idle_index: int = 0,
) -> TurnPlan:
    """The plan of a turn answering ``text``."""
    return TurnPlan(
        turn_id=turn_id,
        user_text=text,
        generation=tutor_generation(tutor, history, text, input_confidence=input_confidence),
        speech=speech_plan(tutor, options, start_idle_index=start_idle_index),
    )
