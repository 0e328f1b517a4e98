"""Speech made in the tests with espeak-ng: real audio of known sentences."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from svc_core.audio import espeak_samples, float_to_pcm16


def espeak_pcm(
    text: str, *, voice: str = "en-us", words_per_minute: int = 160, sample_rate: int = 16000
) -> bytes:
    """Speaks ``text`` with the espeak-ng CLI; returns mono s16le PCM at ``sample_rate``."""
    return float_to_pcm16(
        espeak_samples(
            text, voice=voice, words_per_minute=words_per_minute, sample_rate=sample_rate
        )
    )


def silence_pcm(ms: int, *, sample_rate: int = 16000) -> bytes:
    """``ms`` milliseconds of digital silence as s16le."""
    return bytes(2 * (sample_rate * ms // 1000))


def tone_pcm(freq_hz: float, ms: int, *, sample_rate: int = 16000, amplitude: float = 0.5) -> bytes:
    """A sine tone as s16le."""
    t = np.arange(sample_rate * ms // 1000) / sample_rate
    return float_to_pcm16(amplitude * np.sin(2 * np.pi * freq_hz * t))


def write_wav(path: Path, pcm: bytes, *, sample_rate: int = 16000) -> Path:
    """Writes mono s16le PCM as a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return path


def chunks(pcm: bytes, *, ms: int = 20, sample_rate: int = 16000) -> list[bytes]:
    """Cuts PCM into real-time-sized chunks of ``ms`` milliseconds."""
    size = 2 * sample_rate * ms // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]
