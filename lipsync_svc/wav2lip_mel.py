"""Wav2Lip's mel spectrogram in numpy, whole-signal and streaming.

The same computation as the original's ``audio.melspectrogram`` (hparams: 16 kHz, n_fft 800,
hop 200, window 800 (Hann), 80 mel bands from 55 to 7600 Hz with Slaney scale and norm,
preemphasis 0.97, ref level 20 dB, min level -100 dB, symmetric normalisation to [-4, 4]),
with the STFT centred as librosa centres it. The original pads the signal's start by
reflection; a live stream has no past to reflect, so both functions here pad with silence,
which is what precedes a stream's first sample.

The original gives video frame i the 16 mel columns starting at ``int(80 * i / fps)``: 200 ms
of audio that begins at the frame, so each frame waits for 200 ms of future speech. A live
stream must send frame i as soon as its own audio is in, so ``MelStream`` gives it the 16
columns ending where its audio ends (the same 200 ms window, taken from the past).
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
# Mel columns per video frame window.
MEL_STEP = 16
# Normalised value of digital silence (the floor of the scale).
SILENCE = -MAX_ABS_VALUE


def _hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    # Slaney's scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_region = freq >= min_log_hz
    mels = np.where(
        log_region, min_log_mel + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, mels
    )
    return mels


def _mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def mel_basis() -> np.ndarray:
    """The (80, 401) filterbank of ``librosa.filters.mel(sr=16000, n_fft=800, n_mels=80,
    fmin=55, fmax=7600)`` (Slaney scale, Slaney area normalisation)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


_BASIS = mel_basis()
# scipy.signal.get_window("hann", 800, fftbins=True): the periodic Hann window librosa uses.
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)


def _normalize(mel_amplitude: np.ndarray) -> np.ndarray:
    min_level = np.exp(MIN_LEVEL_DB / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, mel_amplitude)) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS_VALUE * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def _columns(padded: np.ndarray, count: int) -> np.ndarray:
    """Mel columns for the first ``count`` hops of an already preemphasised, padded signal."""
    if count <= 0:
        return np.zeros((N_MELS, 0), dtype=np.float32)
    idx = np.arange(WIN)[None, :] + HOP * np.arange(count)[:, None]
    frames = padded[idx] * _WINDOW
    spectrum = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)).astype(np.float32)
    return _normalize(_BASIS @ spectrum.T)


def preemphasize(samples: np.ndarray, previous: float = 0.0) -> np.ndarray:
    """y[n] = x[n] - 0.97 x[n-1], with ``previous`` as x[-1]."""
    shifted = np.concatenate([[previous], samples[:-1]]) if samples.size else samples
    return (samples - PREEMPHASIS * shifted).astype(np.float32)


def melspectrogram(samples: np.ndarray) -> np.ndarray:
    """The (80, 1 + len // 200) mel spectrogram of a whole 16 kHz float signal."""
    emphasized = preemphasize(np.asarray(samples, dtype=np.float32))
    pad = N_FFT // 2
    padded = np.pad(emphasized, (pad, pad))
    return _columns(padded, 1 + len(emphasized) // HOP)


class MelStream:
    """The mel spectrogram of a live 16 kHz signal, column by column, and a window per frame."""

    def __init__(self) -> None:
        # Centring pads the start with n_fft / 2 samples; silence, as before a stream.
        self._buffer = np.zeros(N_FFT // 2, dtype=np.float32)
        self._previous = 0.0
        self._history = np.full((N_MELS, MEL_STEP), SILENCE, dtype=np.float32)

    def push(self, samples: np.ndarray) -> None:
        """Adds 16 kHz samples and computes every column they complete."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.size:
            emphasized = preemphasize(samples, self._previous)
            self._previous = float(samples[-1])
            self._buffer = np.concatenate([self._buffer, emphasized])
        count = (len(self._buffer) - WIN) // HOP + 1
        if count <= 0:
            return
        columns = _columns(self._buffer, count)
        self._buffer = self._buffer[count * HOP :]
        self._history = np.concatenate([self._history, columns], axis=1)[:, -MEL_STEP:]

    def window(self) -> np.ndarray:
        """The last 16 columns (80, 16): the 200 ms of audio up to what was pushed."""
        return self._history.copy()
