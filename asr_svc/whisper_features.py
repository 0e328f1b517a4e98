"""Whisper's log-mel spectrogram in numpy, as the Smart Turn end-of-turn model expects it.

The same numbers as ``transformers.WhisperFeatureExtractor`` (80 Slaney mel filters over a
400-sample periodic Hann window, hop 160, power spectrum, log10, floored at 8 below the
maximum, then ``(x + 4) / 4``), without importing transformers or torch at run time; a test
checks it against the real extractor.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
_MEL_FLOOR = 1e-10
_NORMALIZE_EPSILON = 1e-7


def _hertz_to_mel(hertz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as librosa's default)."""
    hertz = np.asarray(hertz, dtype=np.float64)
    mels = 3.0 * hertz / 200.0
    log_region = hertz >= 1000.0
    return np.where(
        log_region, 15.0 + np.log(np.maximum(hertz, 1e-9) / 1000.0) * 27.0 / np.log(6.4), mels
    )


def _mel_to_hertz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    hertz = 200.0 * mels / 3.0
    log_region = mels >= 15.0
    return np.where(log_region, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels - 15.0)), hertz)


def mel_filters(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """Triangular Slaney-normalized mel filters, shape (n_fft // 2 + 1, n_mels)."""
    edges = _mel_to_hertz(
        np.linspace(
            _hertz_to_mel(np.array(0.0)), _hertz_to_mel(np.array(sample_rate / 2)), n_mels + 2
        )
    )
    bins = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    slopes = edges[np.newaxis, :] - bins[:, np.newaxis]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    # Slaney normalization: each filter has unit area, so wide high filters are not louder.
    filters *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[np.newaxis, :]
    return filters


_FILTERS = mel_filters().astype(np.float32)
# Periodic Hann (torch.hann_window's default), which Whisper was trained with.
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def log_mel(
    audio: np.ndarray, *, frames: int, normalize: bool = True, pad_front: bool = False
) -> np.ndarray:
    """Whisper log-mel features of ``audio``, shape (80, frames).

    Args:
        audio: 16 kHz float samples; zero-padded at the end (or cut) to ``frames * 160``.
        frames: Feature frames wanted (Whisper: 3000 for 30 s; Smart Turn: 800 for 8 s).
        normalize: Scale the padded waveform to zero mean and unit variance first (the
            extractor's ``do_normalize``, which Smart Turn was trained with).
        pad_front: Keep the end of ``audio`` and pad it with zeros in front instead, as
            Smart Turn hears a short utterance. The padding is part of the waveform then (it
            counts in the normalization), and its frames, all alike, are computed once.
    """
    samples = frames * HOP_LENGTH
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    x = x[len(x) - samples :] if pad_front and len(x) > samples else x[:samples]
    lead = samples - len(x) if pad_front else 0
    if normalize and len(x):
        if pad_front:
            # Statistics of the whole padded waveform, its leading zeros included.
            mean = float(x.sum(dtype=np.float64)) / samples
            variance = float(np.square(x, dtype=np.float64).sum()) / samples - mean**2
            x = (np.pad(x, (lead, 0)) - mean) / np.sqrt(max(variance, 0.0) + _NORMALIZE_EPSILON)
        else:
            # Over the real samples only; the padding stays 0 (as the extractor's attention
            # mask).
            x = (x - x.mean()) / np.sqrt(x.var() + _NORMALIZE_EPSILON)
    if len(x) < samples:
        x = np.pad(x, (lead, 0) if pad_front else (0, samples - len(x)))
    # Centered frames: reflect-pad half a window on each side, as torch.stft(center=True).
    # float32 throughout: within 1e-4 of the float64 reference and twice as fast.
    padded = np.pad(x.astype(np.float32, copy=False), N_FFT // 2, mode="reflect")
    windows = sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    # Frames wholly inside the leading padding (its reflection included) are one constant
    # signal: the first is computed and copied.
    alike = (lead - N_FFT // 2) // HOP_LENGTH + 1 if lead > N_FFT // 2 else 0
    spectrum = np.fft.rfft(windows[alike:] * _WINDOW, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    if alike:
        head = np.fft.rfft(windows[0] * _WINDOW)
        power = np.concatenate([np.tile(head.real**2 + head.imag**2, (alike, 1)), power])
    mel = np.maximum(power @ _FILTERS, _MEL_FLOOR).T
    spec = np.log10(mel)[:, :frames]  # the extractor drops the last (centered) frame
    spec = np.maximum(spec, spec.max() - 8.0)
    return ((spec + 4.0) / 4.0).astype(np.float32)
