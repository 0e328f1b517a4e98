"""A terminal client of the gateway: ask one question, get the answer as an MP4.

``python -m gateway.cli talk --address HOST:PORT (--text T | --wav F) --out answer.mp4``

Creates a session with the service credential (``GATEWAY_API_KEY``), runs one turn, writes the
answer as an MP4 (video and audio; audio only with ``--no-video``), prints the transcript and
the answer, and prints the stage latencies as its last line. While the gateway restarts
(UNAVAILABLE) each call is tried again with a bounded backoff.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway.auth import bearer_metadata
from gateway.mp4_writer import Mp4Writer
from svc_core.retry import BROKEN_STREAM, retry_unavailable

CHUNK_MS = 20


@dataclass
class TurnResult:
    """What one turn brought back."""

    transcript: str = ""
    answer: str = ""
    frames: list[media_pb2.MediaFrame] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    timings: gateway_pb2.TurnTimings | None = None
    outcome: str = ""
    errors: list[str] = field(default_factory=list)
    # The turn each media message belongs to (parallel to ``frames`` and ``audio``), and the
    # turns interrupted: their media are dropped at once, queued or still arriving.
    frame_turns: list[str] = field(default_factory=list)
    audio_turns: list[str] = field(default_factory=list)
    dropped_turns: set[str] = field(default_factory=set)

    def drop_turn(self, turn_id: str) -> None:
        """Drops the media of an interrupted turn and refuses more of it."""
        self.dropped_turns.add(turn_id)
        kept = [(f, t) for f, t in zip(self.frames, self.frame_turns, strict=True) if t != turn_id]
        self.frames, self.frame_turns = [f for f, _ in kept], [t for _, t in kept]
        heard = [(a, t) for a, t in zip(self.audio, self.audio_turns, strict=True) if t != turn_id]
        self.audio, self.audio_turns = [a for a, _ in heard], [t for _, t in heard]


def read_wav(path: Path) -> tuple[bytes, int]:
    """PCM s16le mono and its sample rate from a WAV file.

    Raises:
        SystemExit: The file is not 16-bit mono PCM.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise SystemExit(f"{path}: need 16-bit mono PCM WAV")
        return wav.readframes(wav.getnframes()), wav.getframerate()


async def _requests(
    config: gateway_pb2.ConverseConfig,
    *,
    text: str | None,
    pcm: bytes,
    rate: int,
    realtime: bool,
) -> AsyncIterator[gateway_pb2.ConverseRequest]:
    yield gateway_pb2.ConverseRequest(config=config)
    if text is not None:
        yield gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=text))
        return
    # A second of silence after the speech lets the recognizer hear the end of the question.
    audio = pcm + bytes(2 * rate)
    size = 2 * rate * CHUNK_MS // 1000
    for start in range(0, len(audio), size):
        yield gateway_pb2.ConverseRequest(audio=audio[start : start + size])
        if realtime:
            await asyncio.sleep(CHUNK_MS / 1000)


async def talk(args: argparse.Namespace) -> TurnResult:
    """Runs one turn against the gateway at ``args.address``."""
    api_key = os.environ.get("GATEWAY_API_KEY", "")
    if not api_key:
        raise SystemExit("set GATEWAY_API_KEY to the gateway's service credential")
    pcm, rate = (b"", 16000) if args.wav is None else read_wav(args.wav)
    video = not args.no_video
    async with grpc.aio.insecure_channel(args.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        create = partial(
            stub.CreateSession,
            gateway_pb2.CreateSessionRequest(
                tenant_id=args.tenant,
                student_id=args.student,
                tutor=gateway_pb2.TutorProfile(
                    display_name="Tutor",
                    voice=args.voice,
                    avatar_id=args.avatar,
                    knowledge_base_id=args.knowledge_base,
                    language_code="en-US",
                    video_enabled=video,
                    phrase_hints=args.hint,
                ),
            ),
            metadata=bearer_metadata(api_key),
        )
        created = await retry_unavailable(create, what="CreateSession")
        config = gateway_pb2.ConverseConfig(
            session_id=created.session.session_id,
            input_audio_format=media_pb2.AudioFormat(sample_rate_hz=rate),
            output_audio_format=media_pb2.AudioFormat(sample_rate_hz=16000),
            video=gateway_pb2.VideoSettings(
                fps=args.fps,
                pixel_format=media_pb2.PIXEL_FORMAT_I420,
                width=args.size,
                height=args.size,
            ),
        )
        # The engine URL is where this session's Converse is served (possibly another instance).
        async with grpc.aio.insecure_channel(created.engine_url or args.address) as engine:
            converse = gateway_pb2_grpc.GatewayServiceStub(engine).Converse

            async def one_turn() -> TurnResult:
                # A gateway restarting mid-turn: the session resumes with its token on the next
                # attempt, and the question is asked again.
                attempt = TurnResult()
                call = converse(
                    _requests(config, text=args.text, pcm=pcm, rate=rate, realtime=not args.fast),
                    metadata=bearer_metadata(created.engine_token),
                )
                async for response in call:
                    _collect(response, attempt)
                return attempt

            result = await retry_unavailable(one_turn, what="Converse", codes=BROKEN_STREAM)
        end = partial(
            stub.EndSession,
            gateway_pb2.EndSessionRequest(session_id=created.session.session_id),
            metadata=bearer_metadata(api_key),
        )
        await retry_unavailable(end, what="EndSession")
    if args.text is not None:
        result.transcript = args.text
    return result


def _collect(response: gateway_pb2.ConverseResponse, result: TurnResult) -> None:
    kind = response.WhichOneof("response")
    if kind == "transcript" and response.transcript.is_final:
        result.transcript = response.transcript.text
    elif kind == "assistant_text":
        result.answer += response.assistant_text.delta
    elif kind == "media_frame":
        if response.turn_id not in result.dropped_turns:
            result.frames.append(response.media_frame)
            result.frame_turns.append(response.turn_id)
    elif kind == "audio":
        if response.turn_id not in result.dropped_turns:
            result.audio.append(response.audio.data)
            result.audio_turns.append(response.turn_id)
    elif kind == "error":
        result.errors.append(f"{response.error.stage}: {response.error.message}")
    elif kind == "turn_event" and response.turn_event.type != gateway_pb2.TURN_EVENT_TYPE_STARTED:
        if response.turn_event.type == gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED:
            result.drop_turn(response.turn_event.turn_id)
        result.timings = response.turn_event.timings
        result.outcome = gateway_pb2.TurnEventType.Name(response.turn_event.type).removeprefix(
            "TURN_EVENT_TYPE_"
        )


def write_answer(result: TurnResult, path: Path) -> None:
    """Writes the turn's media as an MP4 (video from the frames when there are any)."""
    first = result.frames[0].video if result.frames else None
    rate = result.frames[0].audio.sample_rate_hz if result.frames else 16000
    with Mp4Writer(
        path,
        sample_rate_hz=rate or 16000,
        fps=None if first is None else 25,
        width=first.width if first else 0,
        height=first.height if first else 0,
    ) as out:
        for frame in result.frames:
            out.add_frame(frame.video)
            out.add_audio(frame.audio.data)
        for chunk in result.audio:
            out.add_audio(chunk)


def latency_line(timings: gateway_pb2.TurnTimings | None) -> str:
    """One line of stage latencies, from the end of the student's input."""
    if timings is None:
        return "latency: no turn finished"
    origin = timings.end_of_speech_us or timings.final_transcript_us

    def since(value: int) -> str:
        return f"{(value - origin) / 1000:.0f} ms" if value else "-"

    return (
        f"latency: transcript {since(timings.final_transcript_us)}, "
        f"first token {since(timings.first_token_us)}, "
        f"first audio {since(timings.first_audio_us)}, "
        f"first frame {since(timings.first_frame_us)}, "
        f"last frame {since(timings.last_frame_us)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m gateway.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    talk_cmd = commands.add_parser("talk", help="ask one question, save the answer as MP4")
    talk_cmd.add_argument("--address", default="127.0.0.1:50051", help="gateway host:port")
    source = talk_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="a typed question")
    source.add_argument("--wav", type=Path, help="a spoken question (16-bit mono WAV)")
    talk_cmd.add_argument("--out", type=Path, required=True, help="MP4 file to write")
    talk_cmd.add_argument("--tenant", default="cli")
    talk_cmd.add_argument("--student", default="cli-student")
    talk_cmd.add_argument("--voice", default="")
    talk_cmd.add_argument("--avatar", default="")
    talk_cmd.add_argument("--knowledge-base", default="")
    talk_cmd.add_argument(
        "--hint", action="append", default=[], help="a phrase the question may contain (repeat)"
    )
    talk_cmd.add_argument("--size", type=int, default=256, help="frame width and height")
    talk_cmd.add_argument("--fps", type=int, default=25)
    talk_cmd.add_argument("--no-video", action="store_true", help="audio only")
    talk_cmd.add_argument("--fast", action="store_true", help="send the WAV faster than real time")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(talk(args))
    except grpc.aio.AioRpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    if result.frames or result.audio:
        write_answer(result, args.out)
    print(f"you: {result.transcript}")
    print(f"tutor: {result.answer.strip()}")
    print(f"saved: {args.out}" if result.frames or result.audio else "saved: nothing (no media)")
    print(latency_line(result.timings))
    return 0 if result.outcome == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
