"""Silero voice-activity detection, streamed window by window with onnxruntime.

The model is the ONNX export that faster-whisper ships (``assets/silero_vad_v6.onnx``); it is
run here directly, one 512-sample window (32 ms at 16 kHz) at a time with its recurrent state
carried between windows, so speech is detected as it happens. (The ``silero-vad`` package would
pull in torch; this keeps the asr extra torch-free.)

Most of a conversation's audio is the student listening, and a silent stream cost about as much
as the model run per window (issue 20: 0.02 core per listening student). An energy gate skips
the model for windows that are clearly silent while the model already says "no speech": far
below any microphone's noise floor (digital silence, a browser's noise suppression). Silero
itself hears speech at any level (it normalizes), so the gate never applies inside speech: a
quiet window right after speech still goes to the model, whose state carries the utterance.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from svc_core.server import StartupError

#: Samples per VAD window at 16 kHz; the model accepts exactly this many.
WINDOW_SAMPLES = 512
#: Samples of the previous window the model sees before each window.
CONTEXT_SAMPLES = 64
_STATE_SHAPE = (1, 1, 128)
#: Windows quieter than this (RMS, full scale 1.0: -65 dBFS, about 18 of 32768) are clearly
#: silent. Well below a real microphone's noise floor (-60 dBFS and up), so the gate changes
#: nothing for one; it catches digital silence and noise-suppressed quiet.
SILENT_RMS = 10 ** (-65 / 20)
#: The gate applies only while the model's last probability is below this: not in speech, nor
#: fading out of it (Silero's probability decays over a few windows after speech).
GATE_BELOW_PROBABILITY = 0.1
#: Windows of digital silence whose end state stands for "after a silence": Silero's state never
#: settles on silence (its cell state drifts), so a gated window leaves the model as ~1 s of
#: silence from a fresh start would; speech after a gated stretch is then heard as after silence
#: (onsets measured within one window of the model's own, which varies as much with the length
#: of the silence before).
_QUIET_STATE_WINDOWS = 30


def bundled_model_path() -> Path:
    """Path of the Silero ONNX model inside the installed faster-whisper package.

    Raises:
        StartupError: faster-whisper (the asr extra) is not installed or lacks the model.
    """
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:
        raise StartupError(
            "the Silero VAD model comes with faster-whisper: install the asr extra "
            "(pip install 'virtual-tutor[asr]')"
        ) from exc
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise StartupError(f"Silero VAD model not found at {path}: reinstall faster-whisper>=1.2")
    return path


class SileroVad:
    """The loaded model, shared by every stream (onnxruntime sessions are thread-safe)."""

    def __init__(self, path: Path | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise StartupError(
                "Silero VAD needs onnxruntime: install the asr extra "
                "(pip install 'virtual-tutor[asr]')"
            ) from exc
        options = onnxruntime.SessionOptions()
        # One window is tiny: threads would cost more than they save, and streams run in
        # parallel on the worker pool anyway.
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session: Any = onnxruntime.InferenceSession(
            str(path or bundled_model_path()),
            providers=["CPUExecutionProvider"],
            sess_options=options,
        )
        warm = SileroVadStream(self._session)
        silence = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
        for _ in range(_QUIET_STATE_WINDOWS):
            warm.probability(silence)
        self._quiet_state = warm.state

    def stream(self, *, energy_gate: bool = True) -> SileroVadStream:
        """A detector with fresh recurrent state, for one audio stream.

        Args:
            energy_gate: Skip the model for clearly silent windows outside speech.
        """
        return SileroVadStream(
            self._session, quiet_state=self._quiet_state if energy_gate else None
        )


class SileroVadStream:
    """Speech probability of successive 512-sample windows of one stream.

    Args:
        session: The shared onnxruntime session.
        quiet_state: The model's state after a silence (``SileroVad`` measures it): with it,
            clearly silent windows outside speech skip the model and leave this state (see
            the module's docstring); None runs the model on every window.

    Attributes:
        model_runs: Windows the model ran on.
        gated: Windows the energy gate answered without the model.
    """

    def __init__(
        self, session: Any, *, quiet_state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        self._session = session
        self._quiet_state = quiet_state
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._input = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        self._last = 0.0  # the model's last probability
        self._lock = threading.Lock()
        self.model_runs = 0
        self.gated = 0

    def probability(self, window: np.ndarray) -> float:
        """Speech probability in [0, 1] of the next window.

        Args:
            window: ``WINDOW_SAMPLES`` float32 samples in [-1, 1], following the previous
                window without a gap.
        """
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(f"a VAD window is {WINDOW_SAMPLES} samples, got {window.shape}")
        with self._lock:
            quiet = self._quiet_state
            if quiet is not None and self._last < GATE_BELOW_PROBABILITY and _silent(window):
                # The state a silence leaves (never written to: the model returns new arrays),
                # and the real audio before the next window as its context.
                self._h, self._c = quiet
                self._context = window[-CONTEXT_SAMPLES:].astype(np.float32)
                self.gated += 1
                return 0.0
            model_input = self._input
            model_input[0, :CONTEXT_SAMPLES] = self._context
            model_input[0, CONTEXT_SAMPLES:] = window
            probs, self._h, self._c = self._session.run(
                None, {"input": model_input, "h": self._h, "c": self._c}
            )
            self._context = window[-CONTEXT_SAMPLES:].astype(np.float32)
            self.model_runs += 1
            self._last = float(np.asarray(probs).reshape(-1)[0])
            return self._last

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """The model's recurrent state (h, c) after the last window."""
        return self._h, self._c


def _silent(window: np.ndarray) -> bool:
    """Whether the window's RMS is below ``SILENT_RMS`` (a dot product: ~1 us)."""
    samples = window.astype(np.float32, copy=False)
    return float(np.dot(samples, samples)) < SILENT_RMS * SILENT_RMS * WINDOW_SAMPLES
