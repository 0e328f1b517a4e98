"""PCM audio helpers: s16le validation and conversion, framing, resampling with soxr, joining
queued chunks, and speech from the espeak-ng command line."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import numpy as np
import soxr

from svc_core.errors import InvalidArgument, ResourceExhausted

BYTES_PER_SAMPLE = 2  # s16le mono
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000


#: What ``join_queued_chunks`` returns as its second value when it took only audio.
NONE_TAKEN: Any = object()


def join_queued_chunks(
    queue: asyncio.Queue[Any], first: bytes, *, max_bytes: int
) -> tuple[bytes, Any]:
    """``first`` and the audio chunks queued behind it, joined in order while under
    ``max_bytes``: a stream that fell behind sends one message for them, not one each.

    Returns:
        The joined audio, and the first queued item that was not audio (an end of stream, an
        error), taken out to be handled next; ``NONE_TAKEN`` when there was none.
    """
    parts, size = [first], len(first)
    while size < max_bytes and not queue.empty():
        item = queue.get_nowait()
        if not isinstance(item, bytes):
            return b"".join(parts), item
        parts.append(item)
        size += len(item)
    return (b"".join(parts) if len(parts) > 1 else first), NONE_TAKEN


def check_sample_rate(rate: int, *, default: int = 16000) -> int:
    """Returns ``rate`` (or ``default`` for 0) if it is a supported PCM sample rate.

    Raises:
        InvalidArgument: The rate is outside 8-48 kHz.
    """
    if rate == 0:
        return default
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidArgument(
            f"unsupported sample rate {rate} Hz: use {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    return rate


def check_pcm_chunk(data: bytes, *, max_bytes: int = 64 * 1024) -> None:
    """Checks that ``data`` is a whole number of s16le samples and not too large.

    Raises:
        InvalidArgument: Odd byte count.
        ResourceExhausted: Larger than ``max_bytes``.
    """
    if len(data) % BYTES_PER_SAMPLE:
        raise InvalidArgument(
            f"audio chunk of {len(data)} bytes is not a whole number of 16-bit samples"
        )
    if len(data) > max_bytes:
        raise ResourceExhausted(f"audio chunk of {len(data)} bytes exceeds {max_bytes} bytes")


def pcm16_to_float(data: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float samples in [-1, 1] -> s16le bytes, clipping what is outside."""
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).astype("<i2").tobytes()


def samples_to_ms(samples: int, rate: int) -> int:
    """Duration of ``samples`` at ``rate`` in whole milliseconds (rounded down)."""
    return samples * 1000 // rate


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resamples a whole float32 signal (for streams use ``StreamResampler``)."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)


class StreamResampler:
    """Resamples a stream of s16le chunks chunk by chunk, keeping filter state between them.

    Output lags input by the filter's delay; ``flush()`` at the end returns the tail so the
    total length matches ``len(input) * to_rate / from_rate``.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, data: bytes) -> bytes:
        """Resamples one s16le chunk; may return fewer bytes than expected (filter delay)."""
        if self._stream is None:
            return data
        samples = np.frombuffer(data, dtype="<i2")
        return self._stream.resample_chunk(samples, last=False).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """Returns the samples still held in the filter; the stream is finished afterwards."""
        if self._stream is None:
            return b""
        empty = np.zeros(0, dtype=np.int16)
        return self._stream.resample_chunk(empty, last=True).astype("<i2").tobytes()


class PcmFramer:
    """Cuts a byte stream of s16le audio into frames of a fixed number of samples."""

    def __init__(self, frame_samples: int) -> None:
        if frame_samples <= 0:
            raise ValueError("frame_samples must be positive")
        self.frame_bytes = frame_samples * BYTES_PER_SAMPLE
        self._buffer = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        """Adds data; returns every complete frame now available, in order."""
        self._buffer.extend(data)
        count = len(self._buffer) // self.frame_bytes
        frames = [
            bytes(self._buffer[i * self.frame_bytes : (i + 1) * self.frame_bytes])
            for i in range(count)
        ]
        del self._buffer[: count * self.frame_bytes]
        return frames

    def flush(self, *, pad: bool = True) -> bytes | None:
        """The partial frame left over (zero-padded to a full frame when ``pad``), or None."""
        if not self._buffer:
            return None
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest.ljust(self.frame_bytes, b"\0") if pad else rest

    @property
    def pending_bytes(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buffer)


def espeak_samples(
    text: str,
    *,
    voice: str = "en-us",
    words_per_minute: int | None = None,
    sample_rate: int = 16000,
    timeout_s: float | None = None,
) -> np.ndarray:
    """``text`` spoken by the espeak-ng CLI: mono float32 samples at ``sample_rate``.

    ``words_per_minute`` None keeps espeak-ng's own speed.

    Raises:
        FileNotFoundError: espeak-ng is not installed.
        subprocess.SubprocessError: It failed or timed out.
    """
    speed = ["-s", str(words_per_minute)] if words_per_minute is not None else []
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, *speed, "--stdout", text],
        check=True,
        capture_output=True,
        timeout=timeout_s,
    ).stdout
    # Streaming to stdout, espeak-ng writes a canonical 44-byte header with an unknown length.
    native_rate = int.from_bytes(wav[24:28], "little")
    samples = pcm16_to_float(wav[44 : 44 + (len(wav) - 44) // 2 * 2])
    return resample(samples, native_rate, sample_rate)
