"""A spoken-question set about tutors' documents, for measuring recognition (issue 15).

``tests/support/asr_topics/<split>/`` holds short documents on topics of their own and
``questions.txt``: ``document | question`` lines, ``-`` for an off-topic question (asked of a
tutor whose documents do not cover it). The ``dev`` split is what the recognizer was developed
against; ``held_out`` was written at the same time and not used while developing, so it
measures how the method does on material it has not seen. ``fit`` (more documents and
questions, off-topic ones especially) is what ``benchmarks.fit_chooser`` fits the transcript
chooser's weights on, with dev.

Each question is spoken by espeak-ng in one of several voices and speeds (by its position),
over a faint noise floor; ``noisy`` adds white or pink noise at a given SNR over the speech.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from tests.support.speech import espeak_pcm

TOPICS = Path(__file__).parent / "asr_topics"
RATE = 16000
#: (espeak-ng voice, words per minute): US and British English, female and male variants.
VOICES: tuple[tuple[str, int], ...] = (
    ("en-us", 150),
    ("en", 170),
    ("en-us+f3", 140),
    ("en+m3", 180),
    ("en-us+m1", 160),
)
OFF_TOPIC = "-"


@dataclass(frozen=True)
class Question:
    """A question of the set and the document it is about (``OFF_TOPIC`` for none)."""

    document: str
    text: str
    index: int

    @property
    def on_topic(self) -> bool:
        return self.document != OFF_TOPIC

    @property
    def voice(self) -> tuple[str, int]:
        return VOICES[self.index % len(VOICES)]


@cache
def documents(split: str) -> dict[str, str]:
    """The split's documents by name (file stem)."""
    return {path.stem: path.read_text("utf-8") for path in sorted((TOPICS / split).glob("*.md"))}


@cache
def questions(split: str) -> tuple[Question, ...]:
    """The split's questions, in file order."""
    found: list[Question] = []
    for line in (TOPICS / split / "questions.txt").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        document, text = (part.strip() for part in line.split("|", 1))
        found.append(Question(document, text, len(found)))
    return tuple(found)


@cache
def clean_pcm(question: Question) -> bytes:
    """The question spoken (16 kHz s16le), with 200 ms of a -60 dBFS noise floor around it."""
    voice, words_per_minute = question.voice
    speech = np.frombuffer(
        espeak_pcm(question.text, voice=voice, words_per_minute=words_per_minute),
        dtype="<i2",
    ).astype(np.float32)
    pad = np.zeros(RATE // 5, dtype=np.float32)
    audio = np.concatenate([pad, speech, pad])
    floor = np.random.default_rng(question.index).normal(0.0, 32768 * 1e-3, len(audio))
    return np.clip(audio + floor, -32768, 32767).astype("<i2").tobytes()


@cache
def noisy_pcm(question: Question, snr_db: float = 20.0, color: str = "white") -> bytes:
    """The clean recording with white or pink noise at ``snr_db`` below the speech's power."""
    audio = np.frombuffer(clean_pcm(question), dtype="<i2").astype(np.float64)
    loud = np.abs(audio) > 600  # the speech, not the padding
    speech_power = float(np.mean(audio[loud] ** 2)) if loud.any() else 1.0
    rng = np.random.default_rng(1000 + question.index)
    noise = rng.normal(0.0, 1.0, len(audio))
    if color == "pink":
        # 1/f power: shape white noise's spectrum by 1/sqrt(f).
        spectrum = np.fft.rfft(noise)
        frequencies = np.fft.rfftfreq(len(noise))
        spectrum[1:] /= np.sqrt(frequencies[1:])
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, len(noise))
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return np.clip(audio + noise, -32768, 32767).astype("<i2").tobytes()


def recording(question: Question, noise: str) -> bytes:
    """The question ``clean``, or with ``white`` or ``pink`` noise at 20 dB SNR."""
    return clean_pcm(question) if noise == "clean" else noisy_pcm(question, 20.0, noise)


def asked_of(question: Question, names: Sequence[str]) -> str:
    """The document a question is put to: its own, or (off topic) each of ``names`` in turn."""
    return question.document if question.on_topic else names[question.index % len(names)]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(Word-level edit distance, reference word count)."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diagonal, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1])),
            )
    return row[len(hyp)], len(ref)


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """WER over (reference, hypothesis) pairs: total edits / total reference words."""
    edits = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        edits, total = edits + e, total + n
    return edits / total if total else 0.0


def correct_words(reference: str, hypothesis: str) -> list[bool]:
    """For each hypothesis word, whether a minimal alignment matches it to the same word."""
    ref, hyp = reference.split(), hypothesis.split()
    cost = np.zeros((len(ref) + 1, len(hyp) + 1), dtype=np.int32)
    cost[:, 0] = np.arange(len(ref) + 1)
    cost[0, :] = np.arange(len(hyp) + 1)
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]),
            )
    correct = [False] * len(hyp)
    i, j = len(ref), len(hyp)
    while i > 0 and j > 0:
        if cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            correct[j - 1] = ref[i - 1] == hyp[j - 1]
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return correct


def calibration_error(confidences: list[float], correct: list[bool], bins: int = 5) -> float:
    """Expected calibration error: |mean confidence - accuracy| per bin, weighted by size."""
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if not len(conf):
        return 0.0
    index = np.minimum((conf * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(conf[members].mean() - right[members].mean())
    return float(error)
