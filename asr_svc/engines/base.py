"""The engine interface: what a speech recognizer must offer the streaming pipeline.

Engines speak plain Python: 16 kHz mono int16 samples in, text and word timings out. The
pipeline (``asr_svc.pipeline``) decides where utterances begin and end; an engine only
recognizes the audio of one utterance at a time, per stream.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Self

    from asr_svc.config import AsrSettings

#: Every engine takes 16 kHz audio; the pipeline resamples what clients send.
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do.

    Attributes:
        incremental: Decodes audio as it arrives, so an interim hypothesis is cheap and can be
            asked for after every chunk. Engines that are not incremental re-decode the whole
            utterance for each interim result; the pipeline asks them at a bounded rate, off
            the stream's critical path.
        word_timings: Final results carry word timings.
        languages: BCP-47 primary language subtags it recognizes ("en"); empty means any.
    """

    incremental: bool
    word_timings: bool
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecognizedWord:
    """A word of a final transcript, in ms from the start of the utterance's audio."""

    word: str
    start_ms: int
    end_ms: int
    confidence: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """The text of one utterance.

    Attributes:
        text: Words separated by single spaces; empty when nothing was recognized.
        confidence: In [0, 1]; 0 when the engine reports none.
        words: Word timings, in ms from the start of the audio given to the engine.
    """

    text: str
    confidence: float = 0.0
    words: tuple[RecognizedWord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class KnowledgeText:
    """The text of a tutor's knowledge base, which recognition is tuned to.

    Attributes:
        knowledge_base_id: The knowledge base it came from.
        content_hash: Changes whenever the documents change (engines cache what they build
            from the text under it).
        documents: Plain text of each document.
    """

    knowledge_base_id: str
    content_hash: str
    documents: tuple[str, ...]


@dataclass(frozen=True)
class StreamSpec:
    """What a stream asks of the engine.

    Attributes:
        language: Primary language subtag ("en"), or "" for the engine's default.
        phrase_hints: Words and phrases the speaker is likely to say.
        knowledge: The tutor's documents; None for a tutor without any (the general model).
    """

    language: str = ""
    phrase_hints: tuple[str, ...] = ()
    knowledge: KnowledgeText | None = None


class EngineStream(ABC):
    """One client stream's recognizer: a sequence of utterances, one at a time.

    Calls come from worker threads, one at a time per stream (the pipeline serializes them),
    except ``interim`` of engines that are not incremental: it may run while ``accept`` feeds
    more audio, and must take a snapshot of what it needs.
    """

    @abstractmethod
    def start_utterance(self) -> None:
        """Begins a new utterance."""

    @abstractmethod
    def accept(self, samples: np.ndarray) -> None:
        """Adds 16 kHz int16 samples to the current utterance."""

    @abstractmethod
    def interim(self) -> str:
        """The best guess at the current utterance's text so far ("" if none)."""

    @abstractmethod
    def finish(self, keep_samples: int) -> Transcript:
        """Ends the current utterance and recognizes it.

        Args:
            keep_samples: How many of the accepted samples belong to the utterance; audio
                accepted after them (trailing silence the endpointer waited through) may be
                ignored by engines that decode the utterance as a whole.
        """

    @abstractmethod
    def close(self) -> None:
        """Releases the stream; called once, after the last utterance (or mid-utterance)."""


class AsrEngine(ABC):
    """A speech recognizer shared by every stream of the service."""

    #: Name used by the ``ASR_ENGINE`` setting.
    name: str = ""

    @classmethod
    def from_settings(cls, settings: AsrSettings) -> Self:
        """The engine the settings describe, not yet started."""
        return cls(settings)  # type: ignore[call-arg]

    async def start(self) -> None:
        """Loads the models off the event loop (``load`` in a worker thread).

        Raises:
            svc_core.server.StartupError: See ``load``.
        """
        await asyncio.to_thread(self.load)

    @property
    @abstractmethod
    def capabilities(self) -> EngineCapabilities:
        """What this engine can do."""

    @abstractmethod
    def load(self) -> None:
        """Loads models (blocking; off the event loop). Does nothing if already loaded.

        Raises:
            svc_core.server.StartupError: The engine or its model is missing; the message says
                what to install or configure.
        """

    @abstractmethod
    def open_stream(self, spec: StreamSpec) -> EngineStream:
        """A recognizer for one client stream (blocking: may build a language model).

        Raises:
            svc_core.errors.InvalidArgument: The spec asks for what the engine cannot do.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases models at shutdown."""


def primary_language(code: str) -> str:
    """ "en-US" -> "en"; "" stays "" (the engine's default)."""
    return code.strip().replace("_", "-").split("-")[0].lower()


def supported(language: str, languages: Sequence[str]) -> bool:
    """Whether ``language`` ("" = default) is among ``languages`` (empty = any)."""
    return not language or not languages or language in languages
