"""End of turn in asr_svc (issue 19): smart turn against the silence-only rule, over gRPC.

A section of ``python -m benchmarks.asr_svc``. For each rule the service runs in-process
(pocketsphinx) and takes real-time streams of spoken questions, 3 s apart (more than the
2.5 s silence limit, so every question ends by itself):

- complete questions: end of speech -> final transcript p50/p95, and how many ended by the
  model's verdict (the rest waited for the silence limit);
- questions with a 700 ms thinking pause mid-sentence (``loadtest.utterances``; two takes of
  each in Piper's voice, whose takes differ): how many were cut into two turns (target 0),
  and end of speech -> final of the whole question;
- under load: 1, 4, 8 and 16 concurrent streams of complete questions with smart turn, end of
  speech -> final p50/p95, and how many pauses the busy model left to the silence rule;
- on the audio clock (in-process, no gRPC, free of the machine's load): how much silence
  after the last word each rule needs before SPEECH_ENDED, over the complete questions and a
  wider set of finished ones (three takes each in Piper's voice), and how many were held;
- the words alone: how the sentence-end model scores the finished questions and thinking
  stops its bounds were chosen on (``benchmarks.sentence_end_set``), and what each rule holds.

Two voices: espeak-ng (formant synthesis, what the load harness speaks) and Piper's
en_US-joe-medium (neural, when piper-tts is installed). Numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2

from asr_svc.config import AsrSettings
from asr_svc.end_of_turn import (
    LIKELY_END,
    UNLIKELY_END,
    EndOfTurnMode,
    TurnJudge,
    doubtful_by_words,
    unfinished_by_words,
)
from asr_svc.endpointing import EndpointingOptions
from asr_svc.engines.base import StreamSpec
from asr_svc.engines.pocketsphinx import PocketsphinxEngine
from asr_svc.events import SpeechEvent, SpeechEventKind
from asr_svc.pipeline import RecognitionPipeline
from asr_svc.recognizer import Recognizer
from asr_svc.server import build_service
from asr_svc.vad import SileroVad
from benchmarks import sentence_end_set
from loadtest.utterances import (
    THINKING_PAUSE_MS,
    THINKING_PAUSE_QUESTIONS,
    Voice,
    default_voice,
    insert_pause,
    spoken,
)
from svc_core.server import GrpcServer

RATE = 16000
CHUNK_MS = 20
LEAD_MS = 500
GAP_MS = 3000
COMPLETE_QUESTIONS = (
    "what is photosynthesis",
    "how many planets are in the solar system",
    "why is the sky blue",
    "can you explain how the water cycle works",
    "what is the difference between a plant cell and an animal cell",
    "who was the first president of the united states",
    "how do i solve a quadratic equation",
    "what causes the seasons",
)
# Finished questions of other shapes, for the audio clock: ones Smart Turn doubts in some
# Piper takes ("how do magnets work") as well as ones it hears well.
MORE_COMPLETE_QUESTIONS = (
    *("what is the water cycle", "how do plants make their food", "tell me about the planets"),
    *("why do volcanoes erupt", "what is gravity", "how does the heart pump blood"),
    *("who discovered penicillin", "what are prime numbers", "can you help me with fractions"),
    *("why is the ocean salty", "what causes earthquakes", "how far away is the moon"),
    *("what is the capital of france", "explain the rock cycle", "what do bees do"),
    *("how do magnets work", "why do leaves change colour"),
)
#: Silence after the last word beyond which a finished question counts as held (ms): the
#: pause plus the VAD's lag is ~200, the model's hold 1000.
HELD_MS = 600
THINKING_TEXTS = tuple(f"{a} {b}" for a, b in THINKING_PAUSE_QUESTIONS)
HINTS = COMPLETE_QUESTIONS + MORE_COMPLETE_QUESTIONS + THINKING_TEXTS
_REASONS = {
    value: name.removeprefix("END_OF_TURN_REASON_").lower()
    for name, value in asr_pb2.EndOfTurnReason.items()
}


class _Voices:
    """espeak-ng, and Piper's joe voice when piper-tts is installed."""

    def __init__(self) -> None:
        if default_voice() != "piper":
            print("end of turn: piper-tts not installed, espeak-ng only")

    @property
    def names(self) -> list[Voice]:
        return ["espeak", "piper"] if default_voice() == "piper" else ["espeak"]

    def speak(self, voice: Voice, text: str) -> bytes:
        return spoken(text, voice).pcm

    def with_pause(self, voice: Voice, first: str, rest: str) -> bytes:
        whole = self.speak(voice, f"{first} {rest}")
        return insert_pause(whole, self.speak(voice, first), THINKING_PAUSE_MS)


@dataclass
class Track:
    """Questions one after another, GAP_MS apart; each one's speech span in ms."""

    pcm: bytes
    spans: list[tuple[int, int]] = field(default_factory=list)


def make_track(speeches: list[bytes], *, seed: int = 0) -> Track:
    parts = [np.zeros(RATE * LEAD_MS // 1000, dtype=np.int16)]
    spans, position = [], LEAD_MS
    for speech in speeches:
        samples = np.frombuffer(speech, dtype="<i2")
        end = position + len(samples) * 1000 // RATE
        spans.append((position, end))
        parts += [samples, np.zeros(RATE * GAP_MS // 1000, dtype=np.int16)]
        position = end + GAP_MS
    audio = np.concatenate(parts).astype(np.float32)
    audio += np.random.default_rng(seed).normal(0, 32768 * 0.001, len(audio))
    return Track(np.clip(audio, -32768, 32767).astype("<i2").tobytes(), spans)


async def _run(address: str, track: Track) -> list[dict[str, Any]]:
    """Sends ``track`` in real time; per question: its finals, ends and latency (ms)."""
    chunk = 2 * RATE * CHUNK_MS // 1000
    pieces = [track.pcm[i : i + chunk] for i in range(0, len(track.pcm), chunk)]
    config = asr_pb2.StreamingRecognizeRequest(
        config=asr_pb2.RecognitionConfig(
            audio_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hz=RATE, channels=1
            ),
            language_code="en-US",
            phrase_hints=list(HINTS),
        )
    )
    finals: list[tuple[float, asr_pb2.RecognitionResult]] = []
    ends: list[asr_pb2.SpeechEvent] = []
    async with grpc.aio.insecure_channel(address) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()
        start = time.perf_counter()

        async def send() -> None:
            await call.write(config)
            for index, piece in enumerate(pieces):
                delay = start + (index + 1) * CHUNK_MS / 1000 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await call.write(asr_pb2.StreamingRecognizeRequest(audio=piece))
            await call.done_writing()

        sender = asyncio.create_task(send())
        async for response in call:
            now_ms = 1000 * (time.perf_counter() - start)
            if response.WhichOneof("response") == "result" and response.result.is_final:
                finals.append((now_ms, response.result))
            elif response.speech_event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED:
                ends.append(response.speech_event)
        await sender
    questions = []
    for start_ms, end_ms in track.spans:
        mine = [(t, r) for t, r in finals if start_ms - 300 <= r.utterance_start_ms < end_ms]
        indices = {r.utterance_index for _, r in mine}
        reasons = [_REASONS[e.end_of_turn_reason] for e in ends if e.utterance_index in indices]
        questions.append(
            {
                "finals": len(mine),
                "heard": [r.transcript for _, r in mine],
                "end_to_final_ms": (max(t for t, _ in mine) - end_ms) if mine else None,
                "reasons": reasons,
            }
        )
    return questions


async def _serve(mode: EndOfTurnMode) -> tuple[GrpcServer, Any]:
    options = AsrSettings(
        port=0, host="127.0.0.1", engine="pocketsphinx", grace_period_s=0, end_of_turn=mode
    )
    recognizer = Recognizer(options)
    bindings, startup, shutdown = build_service(options, recognizer)
    await startup()
    server = GrpcServer(options, bindings)
    await server.start()
    await server.set_serving(True)
    return server, shutdown


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "n": len(values),
    }


def _summary(questions: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [q["end_to_final_ms"] for q in questions if q["finals"] == 1]
    reasons = [q["reasons"][-1] for q in questions if q["reasons"]]
    return {
        "questions": len(questions),
        "cut_in_two": sum(q["finals"] > 1 for q in questions),
        # What each question cut in two was heard as, part by part.
        "cut": [" | ".join(q["heard"]) for q in questions if q["finals"] > 1],
        "lost": sum(q["finals"] == 0 for q in questions),
        "end_of_speech_to_final_ms": _percentiles(latencies),
        "ended_by": {reason: reasons.count(reason) for reason in sorted(set(reasons))},
    }


async def bench_end_of_turn(*, quick: bool) -> dict[str, Any]:
    """Smart turn against the silence rule, per voice; then smart turn under load."""
    voices = _Voices()
    complete = COMPLETE_QUESTIONS[:4] if quick else COMPLETE_QUESTIONS
    tracks: dict[tuple[str, str], Track] = {}
    for index, voice in enumerate(voices.names):
        tracks[(voice, "complete")] = make_track(
            [voices.speak(voice, q) for q in complete], seed=index
        )
        # Each Piper take differs (and so does the model's verdict): two takes of each.
        takes = 2 if voice == "piper" and not quick else 1
        tracks[(voice, "thinking_pause")] = make_track(
            [
                voices.with_pause(voice, a, b)
                for _ in range(takes)
                for a, b in THINKING_PAUSE_QUESTIONS
            ],
            seed=index,
        )
    report: dict[str, Any] = {"gap_ms": GAP_MS, "thinking_pause_ms": THINKING_PAUSE_MS}
    modes: tuple[EndOfTurnMode, ...] = ("smart_turn", "silence")
    for mode in modes:
        server, shutdown = await _serve(mode)
        try:
            keys = list(tracks)
            runs = await asyncio.gather(*(_run(server.address, tracks[k]) for k in keys))
        finally:
            await server.stop(0)
            await shutdown()
        report[mode] = {
            voice: {
                kind: _summary(runs[keys.index((voice, kind))])
                for kind in ("complete", "thinking_pause")
            }
            for voice in voices.names
        }
    report["smart_turn_load"] = await _bench_load(voices, quick=quick)
    engine = PocketsphinxEngine(AsrSettings(port=0))
    await engine.start()
    try:
        report["audio_clock"] = await asyncio.to_thread(_audio_clock, voices, engine, quick=quick)
    finally:
        await engine.close()
    report["sentence_ends"] = _sentence_ends()
    return report


def _audio_clock(voices: _Voices, engine: PocketsphinxEngine, *, quick: bool) -> dict[str, Any]:
    """Silence heard after the last word before SPEECH_ENDED, per rule and voice (ms), and how
    many finished questions were held past ``HELD_MS``.

    The pipeline runs in-process on 20 ms chunks; the ENDED event's moment is how much audio
    it had consumed, so the numbers are the rules' own, not the machine's load.
    """
    vad, judge = SileroVad(), TurnJudge.load()
    defaults = AsrSettings(end_of_turn="smart_turn").endpointing
    chunk = 2 * RATE * CHUNK_MS // 1000
    result: dict[str, Any] = {}
    modes: tuple[EndOfTurnMode, ...] = ("smart_turn", "silence")
    for mode in modes:
        options = EndpointingOptions(**{**defaults.__dict__, "end_of_turn": mode})
        for voice in voices.names:
            waits: list[float] = []
            inferences = judge.calls
            takes = 3 if voice == "piper" and not quick else 1  # espeak-ng's never differ
            questions = [
                q for q in COMPLETE_QUESTIONS + MORE_COMPLETE_QUESTIONS for _ in range(takes)
            ]
            for index, question in enumerate(questions):
                track = make_track([voices.speak(voice, question)], seed=index)
                pipeline = RecognitionPipeline(
                    engine.open_stream(StreamSpec(phrase_hints=HINTS)),
                    vad.stream(),
                    options,
                    input_rate=RATE,
                    interim_results=False,
                    interim_interval_ms=200,
                    incremental=True,
                    turn_judge=judge,
                )
                ended_at = None
                for start in range(0, len(track.pcm), chunk):
                    events = pipeline.feed(track.pcm[start : start + chunk])
                    while ended_at is None and pipeline.turn_check_due:
                        events += pipeline.judge_turn()
                        if not pipeline.final_due:
                            events += pipeline.feed(b"")
                    if any(
                        isinstance(e, SpeechEvent) and e.kind is SpeechEventKind.ENDED
                        for e in events
                    ):
                        ended_at = pipeline.position_ms
                        break
                pipeline.close()
                if ended_at is not None:
                    waits.append(ended_at - track.spans[0][1])
            result[f"{mode}/{voice}"] = {
                **_percentiles(waits),
                "questions": len(questions),
                "held": sum(wait > HELD_MS for wait in waits),
                # Smart Turn runs only where the words leave the verdict open (~50 ms each).
                "model_inferences_per_question": round(
                    (judge.calls - inferences) / len(questions), 2
                ),
            }
    return result


def _sentence_ends() -> dict[str, Any]:
    """The sentence-end model's scores over the finished questions and thinking stops, and
    what the words' rules (with the bounds) make of the stops."""
    judge = TurnJudge.load()
    scores = {
        kind: [judge.sentence_end(text) for text in texts]
        for kind, texts in (
            ("finished", sentence_end_set.FINISHED),
            ("stops", sentence_end_set.STOPS),
        )
    }
    known = {kind: [s for s in values if s is not None] for kind, values in scores.items()}
    stops = list(zip(sentence_end_set.STOPS, scores["stops"], strict=True))
    held_by_rules = [t for t, _ in stops if unfinished_by_words(t) or doubtful_by_words(t)]
    held_by_end = [
        t for t, s in stops if t not in held_by_rules and s is not None and s < UNLIKELY_END
    ]
    return {
        "likely_end": LIKELY_END,
        "unlikely_end": UNLIKELY_END,
        "finished": {
            "count": len(known["finished"]),
            "lowest": min(known["finished"]),
            "read_finished": sum(s >= LIKELY_END for s in known["finished"]),
            "read_unfinished": sum(s < UNLIKELY_END for s in known["finished"]),
        },
        "stops": {
            "count": len(stops),
            "held_by_word_rules": len(held_by_rules),
            "held_by_sentence_end": len(held_by_end),
            "left_to_the_model": [
                t for t, _ in stops if t not in held_by_rules and t not in held_by_end
            ],
        },
    }


async def _bench_load(voices: _Voices, *, quick: bool) -> dict[str, Any]:
    voice = voices.names[-1]  # the neural voice when there is one: the model hears it best
    per_stream = 2 if quick else 3
    speeches = [voices.speak(voice, q) for q in COMPLETE_QUESTIONS]
    server, shutdown = await _serve("smart_turn")
    levels: dict[str, Any] = {}
    try:
        for streams in (1, 4, 8, 16):
            tracks = [
                make_track([speeches[(s + i) % len(speeches)] for i in range(per_stream)], seed=s)
                for s in range(streams)
            ]
            runs = await asyncio.gather(*(_run(server.address, t) for t in tracks))
            levels[f"streams_{streams}"] = _summary([q for run in runs for q in run])
    finally:
        await server.stop(0)
        await shutdown()
    return {"voice": voice, **levels}


def print_end_of_turn(report: dict[str, Any]) -> None:
    """The section's table."""
    print(
        f"\nend of turn ({report['thinking_pause_ms']} ms thinking pauses)\n"
        f"{'rule':<11} {'voice':<7} {'complete: eos->final p50/p95 ms':>32} {'by model':>9} "
        f"{'thinking pauses cut':>20}"
    )
    for mode in ("smart_turn", "silence"):
        for voice, row in report[mode].items():
            done, paused = row["complete"], row["thinking_pause"]
            latency = done["end_of_speech_to_final_ms"]
            print(
                f"{mode:<11} {voice:<7} {latency['p50']:>24.0f}/{latency['p95']:<7.0f} "
                f"{done['ended_by'].get('turn_complete', 0):>4}/{done['questions']:<4} "
                f"{paused['cut_in_two']:>12}/{paused['questions']:<7}"
            )
    print(
        "\nsilence after the last word before SPEECH_ENDED (audio clock), p50/p95 ms, "
        f"finished questions held > {HELD_MS} ms, end-of-turn model inferences a question:"
    )
    for key, row in report["audio_clock"].items():
        print(
            f"  {key:<20} {row['p50']:>6.0f}/{row['p95']:<6.0f} "
            f"held {row['held']}/{row['questions']}  "
            f"inferences {row['model_inferences_per_question']}"
        )
    ends = report["sentence_ends"]
    finished, stops = ends["finished"], ends["stops"]
    print(
        f"\nsentence end, log10 P(</s> | last two words) (bounds {ends['unlikely_end']} / "
        f"{ends['likely_end']}):\n"
        f"  finished questions: lowest {finished['lowest']:.2f}, read finished "
        f"{finished['read_finished']}/{finished['count']}, read unfinished "
        f"{finished['read_unfinished']}/{finished['count']}\n"
        f"  thinking stops: held by word rules {stops['held_by_word_rules']}/{stops['count']}, "
        f"by the sentence end {stops['held_by_sentence_end']}, left to the model: "
        f"{stops['left_to_the_model']}"
    )
    load = report["smart_turn_load"]
    print(f"\nsmart turn under load ({load['voice']}): streams, eos->final p50/p95 ms, ended by")
    for key, row in load.items():
        if key.startswith("streams_"):
            latency = row["end_of_speech_to_final_ms"]
            print(
                f"{key.removeprefix('streams_'):>8} {latency['p50']:>8.0f}/{latency['p95']:<7.0f} "
                f"{row['ended_by']}"
            )


def main() -> None:
    """Runs this section alone: ``python -m benchmarks.asr_end_of_turn [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer complete questions")
    parser.add_argument("--output", type=Path, default=Path("bench-results/asr_end_of_turn.json"))
    args = parser.parse_args()
    report = asyncio.run(bench_end_of_turn(quick=args.quick))
    print_end_of_turn(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
