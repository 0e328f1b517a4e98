"""The engine interface of tts_svc and the plain dataclasses engines speak (never protobuf).

An engine turns one segment of text (a sentence or clause) into speech. It yields
``SpeechAudio`` pieces as they are produced and, once it knows them, ``WordSpan`` and
``VisemeSpan`` events. Times are milliseconds from the start of that segment's audio; the
synthesis pipeline moves them onto the stream's output timeline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

from svc_core.errors import NotFound
from svc_core.server import StartupError
from svc_core.visemes import Viseme

if TYPE_CHECKING:
    from tts_svc.config import TtsSettings

# Speaking rates a config may ask for, relative to the voice's normal rate (see tts.proto).
MIN_SPEAKING_RATE = 0.5
MAX_SPEAKING_RATE = 2.0


class EngineLoadError(StartupError):
    """The engine's package or model could not be loaded (not a wrong setting).

    The service then starts with its fallback engine, if it has one, instead of exiting.
    """


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, so callers need not probe it."""

    #: Audio comes out while the segment is still being synthesized.
    streaming_audio: bool
    #: Word timings are reported.
    word_timings: bool
    #: Visemes are reported.
    visemes: bool
    #: The engine needs a network service (it can be UNAVAILABLE while the process is fine).
    remote: bool


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers."""

    name: str
    display_name: str
    language_codes: tuple[str, ...]
    gender: str  # "female", "male" or ""
    engine: str


@dataclass(frozen=True)
class SpeechAudio:
    """Mono s16le PCM at ``sample_rate``, in the order produced."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class WordSpan:
    """A word and when it is spoken, in ms from the start of its segment's audio."""

    word: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class VisemeSpan:
    """A mouth shape held over an interval, in ms from the start of its segment's audio."""

    viseme: Viseme
    start_ms: float
    end_ms: float


SpeechEvent = SpeechAudio | WordSpan | VisemeSpan


@dataclass(frozen=True)
class VoiceSettings:
    """How a stream is to be spoken: a resolved voice name and a relative speaking rate."""

    voice: str
    speaking_rate: float = 1.0


class TtsEngine(ABC):
    """A speech synthesizer behind tts_svc.

    Subclasses set ``name`` and ``capabilities``. ``start()`` loads the engine once per
    process; the server reports NOT_SERVING until it returns.
    """

    name: ClassVar[str]
    capabilities: ClassVar[EngineCapabilities]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: TtsSettings) -> Self:
        """Builds the engine from the service's settings (nothing is loaded yet)."""

    async def start(self) -> None:  # noqa: B027 - engines without loading keep the default
        """Loads the engine.

        Raises:
            EngineLoadError: Its package or model cannot be loaded.
            StartupError: A setting is wrong (an unknown default voice).
        """

    async def close(self) -> None:  # noqa: B027
        """Releases what ``start()`` acquired."""

    @property
    @abstractmethod
    def default_voice(self) -> str:
        """The voice used when a config names none and no language matches."""

    @abstractmethod
    async def list_voices(self) -> list[VoiceInfo]:
        """The voices on offer, sorted by name.

        Raises:
            Unavailable: The engine's service cannot be reached.
        """

    async def resolve_voice(self, name: str, language_code: str = "") -> str:
        """The voice to use for a config's ``voice`` and ``language_code``.

        Raises:
            NotFound: The voice (or any voice for the language) does not exist.
            Unavailable: The engine's service cannot be reached to check.
        """
        voices = await self.list_voices()
        if name:
            wanted = name.lower()
            for voice in voices:
                if voice.name.lower() == wanted:
                    return voice.name
            raise NotFound(
                f"unknown {self.name} voice {name!r}: ListVoices lists the available ones"
            )
        if language_code:
            # "de-DE" falls back to "de" when no voice names the region.
            parts = language_code.split("-")
            for size in range(len(parts), 0, -1):
                names = [v.name for v in voices_for_language(voices, "-".join(parts[:size]))]
                if names:
                    return self.default_voice if self.default_voice in names else names[0]
            raise NotFound(f"no {self.name} voice speaks {language_code!r}")
        return self.default_voice

    @abstractmethod
    def synthesize(
        self, text: str, voice: VoiceSettings, *, urgent: bool = True, slack_s: float = 0.0
    ) -> AsyncGenerator[SpeechEvent, None]:
        """Speaks one segment; audio is yielded as soon as it is produced.

        Closing the iterator early (a cancelled call) must stop synthesis at once.

        Args:
            text: The segment.
            voice: Voice and speaking rate.
            urgent: A listener is waiting for this segment's first audio. False when earlier
                segments' audio is still well ahead of the listener: an engine may then
                produce the audio in larger, cheaper pieces.
            slack_s: How long until the listener reaches this segment's audio (0: a listener
                is waiting for it now); an engine that shares its workers between streams
                may serve what is due sooner first.

        Raises:
            Unavailable: The engine cannot synthesize now (service unreachable).
        """


def voices_for_language(voices: list[VoiceInfo], language_code: str) -> list[VoiceInfo]:
    """Voices speaking ``language_code`` by BCP-47 prefix ("en" matches "en-GB")."""
    prefix = language_code.lower()
    return [
        v
        for v in voices
        if any(
            code.lower() == prefix or code.lower().startswith(prefix + "-")
            for code in v.language_codes
        )
    ]
