"""Settings of tts_svc, read from TTS_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svc_core.settings import ServiceSettings

EngineName = Literal["espeak", "edge"]


class TtsSettings(ServiceSettings):
    """Settings of the TTS service (``TTS_ENGINE=edge`` selects edge-tts, and so on)."""

    model_config = SettingsConfigDict(env_prefix="TTS_", extra="ignore")

    port: int = Field(default=50054, ge=0, le=65535)
    engine: EngineName = "espeak"
    # Engine that takes over a stream when the chosen one is unreachable (edge -> espeak).
    fallback: Literal["none", "espeak"] = "none"
    # Voice used when a config names none; empty means the engine's own default.
    default_voice: str = ""
    # A clause boundary (comma, semicolon, colon, dash) cuts a segment after this many words.
    min_clause_words: int = Field(default=6, ge=1, le=100)
    # Text without any boundary is cut at a word boundary after this many characters.
    max_segment_chars: int = Field(default=400, ge=20, le=16384)
    # Duration of each output audio chunk.
    chunk_ms: int = Field(default=20, ge=20, le=40)
    # Largest text message accepted (the contract says 16 KiB).
    max_text_bytes: int = Field(default=16 * 1024, ge=1)
    # espeak: milliseconds of audio per synth callback (how finely a segment streams out).
    espeak_buffer_ms: int = Field(default=40, ge=10, le=500)
    # edge: proxy URL for Microsoft's service, and seconds to wait for a connection.
    edge_proxy: str | None = None
    edge_connect_timeout_s: int = Field(default=5, ge=1, le=60)
