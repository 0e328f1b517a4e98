"""faster-whisper: the production engine (CTranslate2 Whisper, int8 on CPU, float16 on CUDA).

Whisper decodes an utterance as a whole, so each stream keeps its utterance's audio (bounded
by the maximum utterance length), re-decodes it for interim results at a bounded rate (the
pipeline decides when), and decodes it once more, with word timings, at the endpoint. Phrase
hints are passed as hotwords, followed by the key terms of the tutor's documents. The model
comes from a directory, or a name already in the local Hugging Face cache: nothing is
downloaded at run time.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asr_svc.config import AsrSettings
from asr_svc.engines.base import (
    SAMPLE_RATE,
    AsrEngine,
    EngineCapabilities,
    EngineStream,
    RecognizedWord,
    StreamSpec,
    Transcript,
    supported,
)
from asr_svc.language_model.corpus import key_terms
from svc_core.errors import InvalidArgument
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

#: Files faster-whisper reads from a model directory (preprocessor_config.json is optional).
REQUIRED_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
_HOTWORDS_MAX_CHARS = 800  # Whisper's prompt is at most 223 tokens; hints beyond are cut.


def hotwords(
    hints: Sequence[str], documents: Sequence[str], *, max_terms: int | None = None
) -> str:
    """Whisper's hotwords for a stream: the caller's phrase hints first (the client's own
    words), then the key terms of its tutor's documents (issue 15), the first ``max_terms``
    of them (None: all ``corpus.key_terms`` gives)."""
    terms = key_terms(documents)[:max_terms] if documents else []
    return " ".join(" ".join([*hints, *terms]).split())[:_HOTWORDS_MAX_CHARS]


def resolve_model_dir(model: str) -> Path:
    """The directory of the configured model.

    Args:
        model: ``ASR_MODEL``: a directory, or a model name already in the local Hugging Face
            cache.

    Raises:
        StartupError: No model configured, not found, or incomplete; the message says what
            to do.
    """
    if not model:
        raise StartupError(
            "ASR_ENGINE=faster_whisper needs a model: download a CTranslate2 Whisper model "
            "(for example Systran/faster-whisper-small) into a directory and set ASR_MODEL to it"
        )
    path = Path(model).expanduser()
    if not path.is_dir():
        if path.exists() or model.startswith(("/", ".", "~")):
            raise StartupError(f"ASR_MODEL={model!r} is not a directory of a Whisper model")
        path = _cached_model(model)
    missing = [name for name in REQUIRED_MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise StartupError(
            f"ASR_MODEL directory {path} lacks {', '.join(missing)}: it must hold a "
            "CTranslate2 Whisper model with its tokenizer (as ct2-transformers-converter "
            "writes with --copy_files tokenizer.json preprocessor_config.json)"
        )
    return path


def _cached_model(name: str) -> Path:
    try:
        from faster_whisper.utils import download_model

        # local_files_only: look in the Hugging Face cache, never on the network.
        return Path(download_model(name, local_files_only=True))
    except Exception as exc:
        raise StartupError(
            f"ASR_MODEL={name!r} is not a directory and not in the local Hugging Face cache; "
            "this service downloads nothing at run time. Download the model into a directory "
            "(for example `huggingface-cli download Systran/faster-whisper-small --local-dir "
            "/models/whisper-small`) and point ASR_MODEL at it"
        ) from exc


class FasterWhisperEngine(AsrEngine):
    """Speech recognition with a faster-whisper (CTranslate2) Whisper model."""

    name = "faster_whisper"

    def __init__(self, settings: AsrSettings) -> None:
        self._settings = settings
        self._model: Any = None
        self._languages: tuple[str, ...] = ()
        self.device = ""
        self.compute_type = ""

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(incremental=False, word_timings=True, languages=self._languages)

    def load(self) -> None:
        if self._model is not None:
            return
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise StartupError(
                "ASR_ENGINE=faster_whisper needs faster-whisper: install the asr extra "
                "(pip install 'virtual-tutor[asr]')"
            ) from exc
        model_dir = resolve_model_dir(self._settings.model)
        device = self._settings.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute_type = self._settings.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        try:
            self._model = WhisperModel(
                str(model_dir),
                device=device,
                compute_type=compute_type,
                cpu_threads=self._settings.cpu_threads,
                # Streams decode in parallel from the worker pool.
                num_workers=max(1, min(self._settings.worker_threads, 4)),
            )
        except (RuntimeError, ValueError) as exc:
            raise StartupError(
                f"cannot load the Whisper model in {model_dir} on {device} ({compute_type}): "
                f"{exc}; check ASR_DEVICE and ASR_COMPUTE_TYPE"
            ) from exc
        self._languages = tuple(self._model.supported_languages)
        self.device, self.compute_type = device, compute_type
        logger.info("faster-whisper ready: %s on %s (%s)", model_dir.name, device, compute_type)

    def open_stream(self, spec: StreamSpec) -> EngineStream:
        if self._model is None:
            raise RuntimeError("engine not loaded")
        if not supported(spec.language, self._languages):
            raise InvalidArgument(f"language {spec.language!r} is not supported by this model")
        documents = spec.knowledge.documents if spec.knowledge is not None else ()
        words = hotwords(spec.phrase_hints, documents)
        return FasterWhisperStream(self, spec.language or None, words or None)

    def transcribe(
        self, audio: np.ndarray, *, language: str | None, hotwords: str | None, final: bool
    ) -> Transcript:
        """Decodes one utterance (float32, 16 kHz); word timings for final results only."""
        seconds = len(audio) / SAMPLE_RATE
        # Bound the decode: real speech is ~4 tokens/s; a model that loops stops here.
        max_new_tokens = min(self._settings.max_new_tokens, 16 + math.ceil(8 * seconds))
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._settings.beam_size if final else 1,
            best_of=1,
            temperature=0.0,
            word_timestamps=final,
            # Utterances are short: one segment each; words are timed by cross-attention
            # alignment, not by timestamp tokens.
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            hotwords=hotwords,
            max_new_tokens=max_new_tokens,
            no_speech_threshold=self._settings.no_speech_threshold,
        )
        texts: list[str] = []
        words: list[RecognizedWord] = []
        logprobs: list[float] = []
        for segment in segments:
            texts.append(segment.text)
            logprobs.append(segment.avg_logprob)
            for word in segment.words or ():
                text = word.word.strip()
                if text:
                    words.append(
                        RecognizedWord(
                            word=text,
                            start_ms=max(0, round(word.start * 1000)),
                            end_ms=max(0, round(word.end * 1000)),
                            confidence=round(float(word.probability), 4),
                        )
                    )
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        return Transcript(
            text=" ".join(" ".join(texts).split()),
            confidence=round(min(max(confidence, 0.0), 1.0), 4),
            words=tuple(words),
        )


class FasterWhisperStream(EngineStream):
    """Keeps the current utterance's audio and decodes it on request."""

    def __init__(
        self, engine: FasterWhisperEngine, language: str | None, hotwords: str | None
    ) -> None:
        self._engine = engine
        self._language = language
        self._hotwords = hotwords
        self._chunks: list[np.ndarray] = []
        # interim() runs while accept() adds audio on another thread; it decodes a snapshot.
        self._lock = threading.Lock()

    def start_utterance(self) -> None:
        with self._lock:
            self._chunks = []

    def accept(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples.astype(np.float32) / 32768.0)

    def interim(self) -> str:
        audio = self._audio()
        if not len(audio):
            return ""
        return self._engine.transcribe(
            audio, language=self._language, hotwords=self._hotwords, final=False
        ).text

    def finish(self, keep_samples: int) -> Transcript:
        audio = self._audio()[:keep_samples]
        with self._lock:
            self._chunks = []
        if not len(audio):
            return Transcript(text="")
        return self._engine.transcribe(
            audio, language=self._language, hotwords=self._hotwords, final=True
        )

    def close(self) -> None:
        with self._lock:
            self._chunks = []

    def _audio(self) -> np.ndarray:
        with self._lock:
            chunks = list(self._chunks)
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
