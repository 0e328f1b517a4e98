"""The production voice engine: Microsoft's neural voices through edge-tts.

Each segment is one ``edge_tts.Communicate(...).stream()``: MP3 chunks, decoded as they come
with PyAV's incremental MP3 decoder, and ``WordBoundary`` events (offsets in 100 ns ticks),
which become word timings. The service needs the network; when it cannot be reached the
engine raises UNAVAILABLE within the connect timeout (milliseconds when offline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

from svc_core.audio import float_to_pcm16
from svc_core.errors import Unavailable
from tts_svc.config import TtsSettings
from tts_svc.engines.base import (
    EngineCapabilities,
    EngineLoadError,
    SpeechAudio,
    SpeechEvent,
    TtsEngine,
    VoiceInfo,
    VoiceSettings,
    WordSpan,
)
from tts_svc.languages import language_of_voice

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "en-US-AriaNeural"
TICKS_PER_MS = 10_000  # WordBoundary offsets and durations are in 100 ns ticks
VOICE_LIST_TTL_S = 3600.0

# The network boundary, injectable so tests can replace Microsoft's service.
CommunicateFactory = Callable[..., Any]  # (text, voice, **options) -> object with .stream()
VoiceLister = Callable[..., Awaitable[list[dict[str, Any]]]]


class EdgeEngine(TtsEngine):
    """edge-tts voices (MP3 from Microsoft's service, decoded and resampled here).

    Args:
        default_voice: Voice for configs that name none.
        proxy: Proxy URL for the service, if one is needed.
        connect_timeout_s: Seconds to wait for a connection before UNAVAILABLE.
        communicate_factory: Builds a stream for a text (``edge_tts.Communicate``).
        list_voices: Fetches the voice list (``edge_tts.list_voices``).
    """

    name = "edge"
    capabilities = EngineCapabilities(
        streaming_audio=True, word_timings=True, visemes=False, remote=True
    )

    def __init__(
        self,
        *,
        default_voice: str = "",
        proxy: str | None = None,
        connect_timeout_s: int = 5,
        communicate_factory: CommunicateFactory | None = None,
        list_voices: VoiceLister | None = None,
    ) -> None:
        self._default_voice = default_voice or DEFAULT_VOICE
        self._proxy = proxy
        self._connect_timeout_s = connect_timeout_s
        self._communicate_factory = communicate_factory
        self._list_voices = list_voices
        self._voices: list[VoiceInfo] = []
        self._voices_at = 0.0
        self._voices_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> EdgeEngine:
        return cls(
            default_voice=settings.default_voice,
            proxy=settings.edge_proxy,
            connect_timeout_s=settings.edge_connect_timeout_s,
        )

    async def start(self) -> None:
        # Imported here so a missing extra fails at start, with what to install.
        try:
            import av  # noqa: F401
            import edge_tts
        except ImportError as exc:
            raise EngineLoadError(
                f"the edge engine needs edge-tts and PyAV: pip install 'virtual-tutor[tts]' ({exc})"
            ) from exc
        self._communicate_factory = self._communicate_factory or edge_tts.Communicate
        self._list_voices = self._list_voices or cast(VoiceLister, edge_tts.list_voices)
        # No network here: the service may come and go, and each stream finds out by itself.

    @property
    def default_voice(self) -> str:
        return self._default_voice

    async def list_voices(self) -> list[VoiceInfo]:
        async with self._voices_lock:
            if not self._voices or time.monotonic() - self._voices_at > VOICE_LIST_TTL_S:
                assert self._list_voices is not None, "start() first"
                try:
                    async with asyncio.timeout(self._connect_timeout_s * 2):
                        raw = await self._list_voices(proxy=self._proxy)
                except Exception as exc:
                    raise _unavailable(exc) from exc
                self._voices = sorted((_voice_info(v) for v in raw), key=lambda v: v.name)
                self._voices_at = time.monotonic()
            return list(self._voices)

    async def synthesize(
        self, text: str, voice: VoiceSettings, *, urgent: bool = True, slack_s: float = 0.0
    ) -> AsyncGenerator[SpeechEvent, None]:
        assert self._communicate_factory is not None, "start() first"
        import av

        communicate = self._communicate_factory(
            text,
            voice.voice,
            rate=f"{round((voice.speaking_rate - 1) * 100):+d}%",
            boundary="WordBoundary",
            proxy=self._proxy,
            connect_timeout=self._connect_timeout_s,
        )
        decoder = av.CodecContext.create("mp3", "r")
        words: list[WordSpan] = []
        try:
            # aclosing: a cancelled call closes the service's websocket now, not at GC.
            async with aclosing(communicate.stream()) as messages:
                async for message in messages:
                    if message["type"] == "audio":
                        for packet in decoder.parse(message["data"]):
                            for audio in _decode(decoder, packet):
                                yield audio
                    elif message["type"] == "WordBoundary":
                        start = message["offset"] / TICKS_PER_MS
                        end = start + message["duration"] / TICKS_PER_MS
                        words.append(WordSpan(message["text"], start, end))
        except (OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("edge_tts", "aiohttp")):
                raise _unavailable(exc) from exc
            raise
        # What the parser still holds, then what the decoder still holds.
        for packet in decoder.parse(b""):
            for audio in _decode(decoder, packet):
                yield audio
        for audio in _decode(decoder, None):
            yield audio
        for word in words:
            yield word


def _decode(decoder: Any, packet: Any) -> list[SpeechAudio]:
    import av

    try:
        frames = decoder.decode(packet)
    except av.error.InvalidDataError:  # a damaged frame costs ~24 ms of audio, not the stream
        logger.debug("skipped an MP3 packet the decoder rejected")
        return []
    pieces = []
    for frame in frames:
        samples = frame.to_ndarray()
        if samples.ndim == 2:  # planar (channels, samples) or packed (1, samples * channels)
            channels = len(frame.layout.channels)
            samples = (
                samples.mean(axis=0)
                if samples.shape[0] == channels
                else samples.reshape(-1, channels).mean(axis=1)
            )
        if samples.dtype.kind == "i":  # s16 decoders; mp3float gives float in [-1, 1]
            samples = samples / 32768.0
        pieces.append(SpeechAudio(float_to_pcm16(samples), frame.sample_rate))
    return pieces


def _unavailable(exc: BaseException) -> Unavailable:
    reason = str(exc) or type(exc).__name__
    return Unavailable(
        f"edge-tts cannot reach Microsoft's speech service ({reason}); check network access "
        "or TTS_EDGE_PROXY, or use TTS_ENGINE=espeak or TTS_FALLBACK=espeak"
    )


def _voice_info(raw: dict[str, Any]) -> VoiceInfo:
    name = raw["ShortName"]
    locale = raw.get("Locale") or language_of_voice(name)
    return VoiceInfo(
        name=name,
        display_name=raw.get("FriendlyName") or name,
        language_codes=(locale,) if locale else (),
        gender=str(raw.get("Gender", "")).lower(),
        engine="edge",
    )
