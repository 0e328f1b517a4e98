"""Moonshine tiny, a second acoustic judge of tutors' candidate transcripts (issue 15).

Whisper tiny.en (``whisper_rescoring``) scores pocketsphinx's likeliest transcripts and its own,
and the tutor's sentence mixture weighs in; both err, and they err differently from a model
trained on other data. Moonshine tiny (Useful Sensors, 27M parameters, MIT) hears the same
utterance and scores the likeliest few candidates again (``JUDGED_CANDIDATES``): its log
probability joins their sum. It transcribes the spoken-question set worse than Whisper (its own
transcripts of the dev and fit splits' clean on-topic questions: 171 word errors against
Whisper's 111), but it is a useful second opinion. ``benchmarks.asr_accuracy``, word errors
(clean and 20 dB white noise, on- and off-topic), Whisper alone -> with Moonshine:
dev 120 -> 112, fit 169 -> 127, held-out 55 -> 59 (a small split: on-topic clean 19 -> 20 of
its 128 words, noisy 24 -> 27); 344 -> 298 over all three. Lowering Whisper's language weight
instead (1.2) gained on dev and fit too, and lost the held-out split more words.

Each candidate is scored as Moonshine writes a student's question (first letter capitalized,
"?" at the end; the same for every candidate, so it favours none), teacher-forced in one
batched decoder call: ~20 ms to encode an utterance and ~7 ms a candidate on one core
(the final's p50 ~140 ms from the utterance's end, against ~95 ms with Whisper alone).

The model is the int8 ONNX export the ``@moonshine-ai/moonshine-js`` npm package carries
(28 MB), with the tokenizer of the ``useful-moonshine-onnx`` PyPI package; ``make install``
puts the three files in ``.venv/share/moonshine-tiny`` (``bundled_model_dir``), without either
package's dependencies. Nothing is downloaded at run time. ``ASR_MOONSHINE_MODEL`` names
another directory holding the same three files, or ``off``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr_svc.engines.base import SAMPLE_RATE
from svc_core.server import StartupError

MODEL_FILES = ("encoder_model.onnx", "decoder_model_merged.onnx", "tokenizer.json")
#: How many of the likeliest candidates (by Whisper's and the tutor's language model's scores)
#: Moonshine scores too. Dev and fit splits' word errors (clean and 20 dB white noise): 289
#: with none, 251 with 3, 238 with 4, 237 with 5, 233 with all (~10, ~30 ms more at the
#: final; held-out 58 against 59 with 4).
JUDGED_CANDIDATES = 4
#: Moonshine hears 0.1 s to 64 s of audio at once.
MIN_SECONDS = 0.1
MAX_SECONDS = 64.0
_START, _END = 1, 2  # the decoder's start and end-of-text tokens


def bundled_model_dir() -> Path | None:
    """Where ``make install`` puts Moonshine tiny (in the venv); None when it is not there."""
    path = Path(sys.prefix) / "share" / "moonshine-tiny"
    return path if all((path / name).is_file() for name in MODEL_FILES) else None


class MoonshineScorer:
    """Moonshine's ONNX encoder and decoder on the CPU, one thread a call (the decoders' pool
    sets the concurrency).

    Args:
        model_dir: A directory holding ``MODEL_FILES``.
    """

    def __init__(self, model_dir: Path) -> None:
        try:
            import onnxruntime
            import tokenizers
        except ImportError as exc:
            raise StartupError(
                "scoring with Moonshine needs onnxruntime and tokenizers: install the asr "
                "extra (pip install 'virtual-tutor[asr]'), or set ASR_MOONSHINE_MODEL=off"
            ) from exc
        missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
        if missing:
            raise StartupError(
                f"ASR_MOONSHINE_MODEL directory {model_dir} lacks {', '.join(missing)}: it must "
                "hold Moonshine's ONNX encoder, merged decoder and tokenizer.json"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._encoder = onnxruntime.InferenceSession(
                str(model_dir / MODEL_FILES[0]), options, providers=["CPUExecutionProvider"]
            )
            self._decoder = onnxruntime.InferenceSession(
                str(model_dir / MODEL_FILES[1]), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / MODEL_FILES[2]))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise StartupError(f"cannot load the Moonshine model in {model_dir}: {exc}") from exc
        # The cache's shape (layers, heads, head size) differs between Moonshine's sizes:
        # read it from the decoder's inputs.
        past = {i.name: i.shape for i in self._decoder.get_inputs() if "past_key_values" in i.name}
        shape = past.get("past_key_values.0.decoder.key")
        if shape is None or not all(isinstance(n, int) for n in shape[1::2]):
            raise StartupError(
                f"{model_dir / MODEL_FILES[1]} is not a merged Moonshine decoder "
                "(no past_key_values.N.decoder.key inputs of fixed heads and head size)"
            )
        self._past_names = list(past)
        self._heads, self._head_size = int(shape[1]), int(shape[3])

    @staticmethod
    def fits(pcm: bytes) -> bool:
        """Whether an utterance (16 kHz mono int16) is one Moonshine hears at once."""
        return MIN_SECONDS <= len(pcm) / (2 * SAMPLE_RATE) <= MAX_SECONDS

    def encode(self, pcm: bytes) -> np.ndarray:
        """The encoder's output for an utterance that ``fits``."""
        if not self.fits(pcm):
            raise ValueError(f"Moonshine hears {MIN_SECONDS} s to {MAX_SECONDS} s of audio")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32)[None, :] / 32768.0
        return self._encoder.run(None, {"input_values": audio})[0]

    def score(self, encoded: np.ndarray, candidates: Sequence[Sequence[str]]) -> list[float]:
        """Each candidate's natural-log probability given ``encoded`` (empty ones: -inf)."""
        tokens = [self._tokens(words) if words else [] for words in candidates]
        scores = [-math.inf] * len(candidates)
        batch = [i for i, t in enumerate(tokens) if t]
        if not batch:
            return scores
        # Teacher forcing: start token + each candidate, padded after its end (the decoder is
        # causal, so padding never changes a candidate's own positions).
        width = 1 + max(len(tokens[i]) for i in batch)
        ids = np.full((len(batch), width), _END, dtype=np.int64)
        for row, i in enumerate(batch):
            ids[row, : 1 + len(tokens[i])] = [_START, *tokens[i]]
        empty = np.zeros((len(batch), self._heads, 0, self._head_size), dtype=np.float32)
        (logits,) = self._decoder.run(
            ["logits"],
            {
                "input_ids": ids,
                "encoder_hidden_states": np.repeat(encoded, len(batch), axis=0),
                "use_cache_branch": np.array([False]),
                **dict.fromkeys(self._past_names, empty),
            },
        )
        for row, i in enumerate(batch):
            targets = [*tokens[i], _END]
            rows = logits[row, : len(targets)].astype(np.float64)
            top = rows.max(axis=1)
            normalizer = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
            scores[i] = float(np.sum(rows[np.arange(len(targets)), targets] - normalizer))
        return scores

    def _tokens(self, words: Sequence[str]) -> list[int]:
        text = " ".join(words)
        sentence = text[:1].upper() + text[1:] + "?"
        return self._tokenizer.encode(sentence, add_special_tokens=False).ids
