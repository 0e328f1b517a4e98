"""libespeak-ng through ctypes, owned by one worker thread per process.

libespeak-ng keeps global state (one voice, one synth callback), so the process has exactly
one ``EspeakRuntime``: a daemon thread that initializes the library and runs jobs from a queue,
one at a time. Segments of concurrent streams are served in the order they are submitted, each
in a few milliseconds. The library runs in AUDIO_OUTPUT_SYNCHRONOUS mode: ``espeak_Synth``
blocks in the worker and calls the synth callback with every ``buffer_ms`` of PCM and the
events (words, phonemes) of that piece, which the worker hands to the job's event loop at once.
The callback returns 1 to abort when the job has been cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so")

# speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
EE_OK = 0
PARAM_RATE = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7
NORMAL_WORDS_PER_MINUTE = 175
MIN_WORDS_PER_MINUTE = 80
MAX_WORDS_PER_MINUTE = 450


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class EspeakUnavailable(Exception):
    """libespeak-ng cannot be loaded or initialized."""


@dataclass(frozen=True)
class EspeakVoice:
    """A voice as libespeak-ng lists it; ``languages`` in order of preference."""

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: int  # 0 unknown, 1 male, 2 female


@dataclass(frozen=True)
class WordEvent:
    """espeak reached a word: 1-based character position and length in the text."""

    text_position: int
    length: int
    sample: int


@dataclass(frozen=True)
class PhonemeEvent:
    """espeak started a phoneme (its mnemonic, for example "oU" or "_:")."""

    phoneme: str
    sample: int


@dataclass
class SynthJob:
    """One text to speak, with the callbacks that receive its output on the worker thread.

    ``on_audio`` gets PCM bytes at the library's sample rate; ``on_done`` the word and phoneme
    events and the total number of samples, or an exception. Both run on the worker thread and
    must only hand data over (``loop.call_soon_threadsafe``).
    """

    text: str
    voice: str
    words_per_minute: int
    on_audio: Callable[[bytes], None]
    on_done: Callable[[list[WordEvent], list[PhonemeEvent], int, BaseException | None], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    words: list[WordEvent] = field(default_factory=list)
    phonemes: list[PhonemeEvent] = field(default_factory=list)
    samples: int = 0


def words_per_minute(speaking_rate: float) -> int:
    """espeak's rate parameter for a rate relative to normal speech."""
    wpm = round(NORMAL_WORDS_PER_MINUTE * speaking_rate)
    return max(MIN_WORDS_PER_MINUTE, min(MAX_WORDS_PER_MINUTE, wpm))


class EspeakRuntime:
    """The process's libespeak-ng: a worker thread that owns the library and runs jobs."""

    def __init__(self, buffer_ms: int = 40) -> None:
        self._buffer_ms = buffer_ms
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lib: Any = None
        self._current: SynthJob | None = None
        self._voice = ""
        self._callback = _SynthCallback(self._on_synth)  # kept alive as long as the runtime
        self.sample_rate = 0
        self.voices: list[EspeakVoice] = []
        self.variants: frozenset[str] = frozenset()  # "f3", "klatt", ... as in "en-us+f3"
        self._start_lock = threading.Lock()

    # --- called from any thread -------------------------------------------------------------

    def start(self) -> None:
        """Starts the worker and initializes the library (blocking; idempotent).

        Raises:
            EspeakUnavailable: The library is missing or does not initialize.
        """
        with self._start_lock:
            if self._thread is not None:
                return
            ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._run, args=(ready,), name="espeak-worker", daemon=True
            )
            thread.start()
            error = ready.get()
            if error is not None:
                thread.join()
                raise EspeakUnavailable(str(error)) from error
            self._thread = thread

    def submit(self, job: SynthJob) -> None:
        """Queues a job; its callbacks run on the worker thread."""
        self._jobs.put(lambda: self._synthesize(job))

    # --- the worker thread ------------------------------------------------------------------

    def _set_voice(self, name: str) -> bool:
        """Makes ``name`` the current voice; False if espeak does not know it."""
        if name == self._voice:
            return True
        if self._lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            return False
        self._voice = name
        return True

    def _run(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        try:
            self._initialize()
        except BaseException as exc:
            ready.put(exc)
            return
        ready.put(None)
        while (task := self._jobs.get()) is not None:
            try:
                task()
            except Exception:  # a bug in one job must not stop the worker
                logger.exception("espeak worker task failed")

    def _initialize(self) -> None:
        lib = None
        for name in LIBRARY_NAMES:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            raise EspeakUnavailable(
                "libespeak-ng is not installed: apt-get install libespeak-ng1 espeak-ng-data "
                "(scripts/bootstrap.sh does), or set TTS_ENGINE=edge"
            )
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            self._buffer_ms,
            None,
            INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT,
        )
        if rate <= 0:
            raise EspeakUnavailable(
                "libespeak-ng did not initialize (is espeak-ng-data installed?)"
            )
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self.sample_rate = rate
        self.voices = _list_voices(lib)
        data_path = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(data_path))
        variants_dir = Path((data_path.value or b"").decode()) / "voices" / "!v"
        if variants_dir.is_dir():
            self.variants = frozenset(p.name for p in variants_dir.iterdir() if p.is_file())
        logger.info("libespeak-ng ready: %d Hz, %d voices", rate, len(self.voices))

    def _synthesize(self, job: SynthJob) -> None:
        if job.cancelled.is_set():
            return
        error: BaseException | None = None
        if not self._set_voice(job.voice):
            error = LookupError(f"espeak does not know voice {job.voice!r}")
        else:
            self._lib.espeak_SetParameter(PARAM_RATE, job.words_per_minute, 0)
            data = job.text.encode("utf-8")
            self._current = job
            try:
                status = self._lib.espeak_Synth(
                    data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
                )
            finally:
                self._current = None
            if status != EE_OK and not job.cancelled.is_set():
                error = RuntimeError(f"espeak_Synth failed with status {status}")
        if not job.cancelled.is_set():
            job.on_done(job.words, job.phonemes, job.samples, error)

    def _on_synth(self, wav: Any, count: int, events: Any) -> int:
        job = self._current
        if job is None or job.cancelled.is_set():
            return 1  # abort: nobody is listening any more
        index = 0
        while (event := events[index]).type != EVENT_LIST_TERMINATED:
            if event.type == EVENT_WORD:
                job.words.append(WordEvent(event.text_position, event.length, event.sample))
            elif event.type == EVENT_PHONEME:
                phoneme = bytes(event.id.string).split(b"\0", 1)[0].decode("ascii", "replace")
                job.phonemes.append(PhonemeEvent(phoneme, event.sample))
            index += 1
        if count > 0 and wav:
            job.samples += count
            job.on_audio(ctypes.string_at(wav, count * 2))
        return 0


def _list_voices(lib: Any) -> list[EspeakVoice]:
    voices = []
    array = lib.espeak_ListVoices(None)
    index = 0
    while array[index]:
        voice = array[index].contents
        languages = []
        address = voice.languages
        # A run of (priority byte, NUL-terminated language) pairs ending with a zero priority.
        while ctypes.c_ubyte.from_address(address).value:
            language = ctypes.string_at(address + 1)
            languages.append(language.decode("ascii", "replace"))
            address += 2 + len(language)
        voices.append(
            EspeakVoice(
                name=(voice.name or b"").decode("utf-8", "replace"),
                identifier=(voice.identifier or b"").decode("utf-8", "replace"),
                languages=tuple(languages),
                gender=voice.gender,
            )
        )
        index += 1
    return voices


def post_to_loop(
    loop: asyncio.AbstractEventLoop, function: Callable[..., None], *args: Any
) -> None:
    """Schedules ``function(*args)`` on ``loop`` from another thread; a no-op once it closed."""
    # A closed loop raises RuntimeError: nobody waits for the result any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(function, *args)


_runtime: EspeakRuntime | None = None
_runtime_lock = threading.Lock()


def espeak_runtime(buffer_ms: int = 40) -> EspeakRuntime:
    """The one runtime of this process (created on first use, started by the caller).

    ``buffer_ms`` applies when this call creates it.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = EspeakRuntime(buffer_ms)
        return _runtime
