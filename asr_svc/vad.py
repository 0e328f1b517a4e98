"""Silero voice-activity detection, streamed window by window with onnxruntime.

The model is the ONNX export that faster-whisper ships (``assets/silero_vad_v6.onnx``); it is
run here directly, one 512-sample window (32 ms at 16 kHz) at a time with its recurrent state
carried between windows, so speech is detected as it happens. (The ``silero-vad`` package would
pull in torch; this keeps the asr extra torch-free.)
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

    def stream(self) -> SileroVadStream:
        """A detector with fresh recurrent state, for one audio stream."""
        return SileroVadStream(self._session)


class SileroVadStream:
    """Speech probability of successive 512-sample windows of one stream."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._lock = threading.Lock()

    def probability(self, window: np.ndarray) -> float:
        """Speech probability in [0, 1] of the next window.

        Args:
            window: ``WINDOW_SAMPLES`` float32 samples in [-1, 1], following the previous
                window without a gap.
        """
        if window.shape != (WINDOW_SAMPLES,):
            raise ValueError(f"a VAD window is {WINDOW_SAMPLES} samples, got {window.shape}")
        with self._lock:
            model_input = np.concatenate([self._context, window])[np.newaxis, :]
            probs, self._h, self._c = self._session.run(
                None, {"input": model_input, "h": self._h, "c": self._c}
            )
            self._context = window[-CONTEXT_SAMPLES:].copy()
        return float(np.asarray(probs).reshape(-1)[0])
