"""What the simulated students say: espeak-ng questions, or recorded WAV files.

Every utterance is mono s16le PCM at 16 kHz with its leading and trailing silence cut off, so
the moment its last sample is sent is the end of speech.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svc_core.audio import float_to_pcm16, pcm16_to_float, resample

SAMPLE_RATE = 16000
# Questions the embedded engines handle well: the demo knowledge base answers them and
# pocketsphinx, given them as phrase hints, recognizes them.
DEFAULT_QUESTIONS = (
    "what is photosynthesis",
    "what is the water cycle",
    "how do plants make their food",
    "tell me about the planets",
)
# Amplitude (of 32767) below which a 10 ms window counts as silence when trimming.
SILENCE_PEAK = 300


@dataclass(frozen=True)
class Utterance:
    """A recorded question: its text (phrase hint for ASR; may be empty) and its audio."""

    name: str
    text: str
    pcm: bytes

    @property
    def duration_s(self) -> float:
        """Length of the speech in seconds."""
        return len(self.pcm) / 2 / SAMPLE_RATE


def trim_silence(pcm: bytes, *, peak: int = SILENCE_PEAK) -> bytes:
    """``pcm`` without its leading and trailing silent 10 ms windows."""
    samples = np.frombuffer(pcm, dtype="<i2")
    window = SAMPLE_RATE // 100
    count = len(samples) // window
    if count == 0:
        return pcm
    peaks = np.abs(samples[: count * window].astype(np.int32)).reshape(count, window).max(axis=1)
    loud = np.flatnonzero(peaks > peak)
    if loud.size == 0:
        return pcm
    return samples[loud[0] * window : (loud[-1] + 1) * window].tobytes()


def espeak_utterance(text: str, *, voice: str = "en-us", words_per_minute: int = 160) -> Utterance:
    """``text`` spoken by the espeak-ng CLI.

    Raises:
        RuntimeError: espeak-ng is not installed.
    """
    try:
        wav = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
            check=True,
            capture_output=True,
        ).stdout
    except FileNotFoundError as exc:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng") from exc
    # Streaming to stdout, espeak-ng writes a canonical 44-byte header with an unknown length.
    rate = int.from_bytes(wav[24:28], "little")
    samples = pcm16_to_float(wav[44 : 44 + (len(wav) - 44) // 2 * 2])
    pcm = float_to_pcm16(resample(samples, rate, SAMPLE_RATE))
    return Utterance(name=text.replace(" ", "_"), text=text, pcm=trim_silence(pcm))


def load_wav(path: Path) -> Utterance:
    """A WAV file (PCM 16-bit, any rate, mono or stereo) as an utterance.

    Its text, used as an ASR phrase hint, comes from ``<name>.txt`` beside it when present.

    Raises:
        ValueError: Not 16-bit PCM.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    samples = pcm16_to_float(raw)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    pcm = float_to_pcm16(resample(samples, rate, SAMPLE_RATE))
    transcript = path.with_suffix(".txt")
    text = transcript.read_text().strip() if transcript.exists() else ""
    return Utterance(name=path.stem, text=text, pcm=trim_silence(pcm))


def load_utterances(paths: list[Path]) -> list[Utterance]:
    """The given WAV files (directories contribute their *.wav), or espeak-ng questions."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.wav")) if path.is_dir() else [path])
    if not files:
        return [espeak_utterance(text) for text in DEFAULT_QUESTIONS]
    return [load_wav(file) for file in files]
