"""Semantic end of turn: has the student finished, or paused mid-sentence to think?

When a pause begins (``turn_pause_ms`` of silence), the pipeline asks a ``TurnJudge``. It
combines two signals:

- **Smart Turn v3.2** (pipecat-ai, BSD-2-Clause), an audio model that hears intonation and
  rhythm: the last 8 s of the utterance as Whisper log-mel features in, the probability that
  the turn is complete out. The ONNX file ships inside the ``pipecat-ai`` wheel; only the file
  is used (pipecat itself is never imported: its package pulls in loguru, openai and more).
- **The words so far**, where an incremental engine has them: an English sentence does not
  end on an article, a conjunction or a possessive ("what is the difference between",
  "tell me about the"), so such a hypothesis is unfinished whatever the audio suggests. One
  that ends on a stranded preposition, an opening question word, a subordinate clause
  stopped early, an auxiliary's pronoun subject or a two-object verb's person ("tell me
  about", "can you explain how", "what happens when you mix", "how long does it", "can you
  tell me") is doubtful: it gets the short hold a doubting model gets.
- **How likely a sentence ends there** (``sentence_end``, English): a general trigram model's
  P(</s> | last two words). Below ``UNLIKELY_END`` the words are doubtful ("what is the
  biggest", "how many"), unless the question's object comes first ("what do bees make"); at
  or above ``LIKELY_END`` they read finished, and a doubting model does not hold the turn
  ("how do magnets work", which Smart Turn doubts in some takes).

The turn is complete when the model says so (probability >= threshold), or the words read
finished, and the words do not contradict it; otherwise the pipeline waits, up to
``turn_max_silence_ms``, for more speech.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any, Literal

import numpy as np

from asr_svc.sentence_end import SentenceEndModel
from asr_svc.whisper_features import SAMPLE_RATE, log_mel
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

EndOfTurnMode = Literal["smart_turn", "silence"]

#: The distribution and the file inside it that carry the model.
SMART_TURN_DISTRIBUTION = "pipecat-ai"
SMART_TURN_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
#: The model hears the last 8 s (800 feature frames).
MODEL_SECONDS = 8
_MODEL_FRAMES = MODEL_SECONDS * SAMPLE_RATE // 160
_INSTALL_HINT = (
    "install the model's package without its dependencies (only its ONNX file is used): "
    "pip install --no-deps 'pipecat-ai==1.14.0'; or set ASR_TURN_MODEL to the file, or "
    "ASR_END_OF_TURN=silence for the silence-only rule"
)

# Words an English sentence does not end on: articles, coordinating and subordinating
# conjunctions, possessive determiners, and prepositions that need an object. Prepositions
# that can end a question ("what is it made of", "where are you from") are left out.
_UNFINISHED_ENDINGS = {
    "en": frozenset(
        {
            *("a", "an", "the"),
            *("and", "or", "but", "nor", "because", "although", "though", "unless"),
            *("whereas", "than", "between", "versus"),
            *("my", "your", "our", "their", "its"),
        }
    ),
}

# Short, frequent words a recognizer inserts into the silence of a pause (measured with
# pocketsphinx on thinking pauses: "between of", "their are").
_PAUSE_INSERTIONS = {
    "en": frozenset(
        {"a", "an", "the", "of", "are", "is", "in", "and", "to", "it", "or", "uh", "um", "ah"}
    ),
}


# A question made with an auxiliary ("how does photosynthesis ...", "why can plants ...") needs
# a main verb after its subject; ending on the subject, it is unfinished. "who" is left out (it
# is the subject itself: "who did it"), and so are pronoun subjects, which end elliptic
# questions ("why should I?", "how do you?").
_QUESTION_WORDS = {
    "en": frozenset({"what", "why", "how", "when", "where", "which"}),
}
_VERB_NEEDING_AUXILIARIES = {
    "en": frozenset(
        {
            *("do", "does", "did", "don't", "doesn't", "didn't"),
            *("can", "could", "will", "would", "should", "might", "must"),
            *("can't", "couldn't", "won't", "wouldn't", "shouldn't"),
        }
    ),
}
_PRONOUNS = {
    "en": frozenset({"i", "you", "he", "she", "it", "we", "they", "this", "that", "there"}),
}
_DETERMINERS = {
    "en": frozenset({"a", "an", "the", "this", "that", "these", "those", "some", "all"}),
}


# Doubtful endings (issue 19): a sentence can end on these, but a student who stops on one
# has mostly paused to think. A preposition left at the end ("tell me about") is stranded by
# a question word before it ("what is it made of", "where are you from"), or the sentence is
# unfinished; words that are also verb particles ("turn it on", "is it over") are left out.
# A question word after the start ("can you explain how") opens a clause still to come,
# though "do you know why" can be a whole question. The recognizer drops short words in a
# pause ("can you explain how the" heard as "... how"), which makes these endings from the
# unfinished ones.
_STRANDABLE_PREPOSITIONS = {
    "en": frozenset(
        {"about", "of", "with", "for", "from", "into", "onto", "to", "at", "by", "through"}
        | {"during", "without", "among", "towards", "toward", "across", "against"}
    ),
}
_CLAUSE_OPENERS = {
    "en": frozenset({"how", "why", "what", "when", "where", "which", "who", "whom", "whether"}),
}
# A subordinate clause that stops at its verb ("what happens when you mix", "what if we add")
# mostly has its object still to come; "what happens when it rains" waits the short hold too.
_SUBORDINATORS = {
    "en": frozenset({"when", "if", "after", "before", "while", "once", "until", "because"}),
}
# Question words that can stand for the object of the verb ("what do bees make").
_OBJECT_QUESTION_WORDS = {"en": frozenset({"what", "which", "who", "whom"})}
# A verb that takes two objects stopped after the person ("can you tell me", "show us"): what
# is to be told mostly follows.
_TWO_OBJECT_VERBS = {
    "en": frozenset({"tell", "show", "teach", "give", "remind", "ask"}),
}
_PERSONS = {"en": frozenset({"me", "us"})}


def smart_turn_model_path() -> Path:
    """Where the installed pipecat-ai wheel keeps the Smart Turn v3.2 CPU model.

    Found through the distribution's file list (or, failing that, the package's location),
    without importing pipecat.

    Raises:
        StartupError: pipecat-ai is not installed, or its wheel lacks the file.
    """
    candidates: list[Path] = []
    try:
        files = metadata.files(SMART_TURN_DISTRIBUTION) or []
        candidates += [Path(str(f.locate())) for f in files if str(f) == SMART_TURN_FILE]
    except metadata.PackageNotFoundError:
        pass
    # find_spec on the top-level package reads no module code.
    spec = util.find_spec("pipecat")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidates.append(Path(folder).parent / SMART_TURN_FILE)
    for path in candidates:
        if path.is_file():
            return path
    raise StartupError(f"the Smart Turn end-of-turn model was not found: {_INSTALL_HINT}")


class SmartTurnModel:
    """The loaded Smart Turn ONNX model, shared by every stream (sessions are thread-safe).

    Args:
        path: The ONNX file; by default the one in the pipecat-ai wheel.
    """

    def __init__(self, path: Path | None = None) -> None:
        path = path or smart_turn_model_path()
        if not path.is_file():
            raise StartupError(f"the end-of-turn model {path} does not exist: {_INSTALL_HINT}")
        try:
            import onnxruntime
        except ImportError as exc:
            raise StartupError(
                "the end-of-turn model needs onnxruntime: install the asr extra "
                "(pip install 'virtual-tutor[asr]')"
            ) from exc
        options = onnxruntime.SessionOptions()
        # One thread per inference (~50 ms on these cores); streams judge in parallel on the
        # service's turn pool instead, so one busy stream never takes every core.
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session: Any = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"], sess_options=options
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise StartupError(f"cannot load the end-of-turn model {path}: {exc}") from exc
        inputs = self._session.get_inputs()
        if [i.name for i in inputs] != ["input_features"] or inputs[0].shape[1:] != [80, 800]:
            raise StartupError(
                f"{path} is not a Smart Turn v3 model (expected input_features [batch, 80, 800])"
            )
        self.path = path

    def probability(self, audio: np.ndarray) -> float:
        """Probability in [0, 1] that the speaker has finished their turn.

        Args:
            audio: 16 kHz float samples in [-1, 1] ending where the pause began (plus the
                pause so far); the last 8 s are used, shorter audio is padded with silence
                in front, as the model was trained.
        """
        features = log_mel(audio, frames=_MODEL_FRAMES, pad_front=True)[np.newaxis]
        (output,) = self._session.run(None, {"input_features": features})
        # The export applies the sigmoid itself (its output is named "logits" nonetheless).
        return float(np.clip(np.asarray(output).reshape(-1)[0], 0.0, 1.0))


def unfinished_by_words(text: str, language: str = "en") -> bool:
    """True when ``text`` ends where a sentence in ``language`` cannot end.

    That is on a word no sentence ends on ("between", "the", "their"), or on the subject of a
    question whose verb is still to come ("how does photosynthesis"). A short word heard after
    such a word is taken for what the recognizer made of the pause's hiss ("the difference
    between of", "make their are"), not as the sentence's end.
    Languages without a word list never count as unfinished.
    """
    endings = _UNFINISHED_ENDINGS.get(language)
    words = _words(text)
    if not endings or not words:
        return False
    if words[-1] in endings:
        return True
    noise = _PAUSE_INSERTIONS.get(language, frozenset())
    if len(words) >= 2 and words[-2] in endings and words[-1] in noise:
        return True
    return _subject_without_verb(words, language)


def doubtful_by_words(text: str, language: str = "en") -> bool:
    """True when ``text`` ends where a sentence can end but a speaker mostly pauses.

    A stranded preposition with no question word before it ("tell me about"), a question
    word that opens a clause at the end ("can you explain how"), a subordinate clause that
    stops at its verb ("what happens when you mix") or before its subject ("what would happen
    if"), an auxiliary's pronoun subject ("how long does it"), or a two-object verb's person
    ("can you tell me"). Such a pause gets the model's short hold (``turn_model_hold_ms``),
    not the whole silence limit.
    """
    prepositions = _STRANDABLE_PREPOSITIONS.get(language)
    openers = _CLAUSE_OPENERS.get(language)
    words = _words(text)
    if not prepositions or not openers or len(words) < 2:
        return False
    if words[-1] in openers:
        return True
    subordinators = _SUBORDINATORS.get(language, frozenset())
    if len(words) >= 3 and words[-3] in subordinators and words[-2] in _PRONOUNS[language]:
        return True  # "... when you mix"
    if _pronoun_without_verb(words, language):
        return True  # "how long does it"
    if words[-1] in _PERSONS[language] and words[-2] in _TWO_OBJECT_VERBS[language]:
        return True  # "can you tell me"
    if words[-1] in subordinators:
        return True  # "what would happen if"
    return words[-1] in prepositions and not openers.intersection(words[:-1])


def fronted_object(text: str, language: str = "en") -> bool:
    """A question whose object comes first, so its verb may end it: "what do bees make",
    "how many legs does a spider have".

    An object question word opens it, and an auxiliary later has a subject and a verb after
    it. A model of running text rates such an end unlikely (its verbs are followed by their
    objects), so the sentence-end probability does not doubt it.
    """
    words = _words(text)
    auxiliaries = _VERB_NEEDING_AUXILIARIES.get(language, frozenset())
    if len(words) < 4:
        return False
    opener = 2 if words[0] == "how" and words[1] in ("many", "much") else 1
    if opener == 1 and words[0] not in _OBJECT_QUESTION_WORDS.get(language, ()):
        return False
    return any(word in auxiliaries for word in words[opener : len(words) - 2])


def _pronoun_without_verb(words: list[str], language: str) -> bool:
    """A question whose auxiliary's subject is a pronoun, with no verb after it.

    "how long does it", "what do you", "why can't they": mostly a verb is still to come,
    though "why should I?" can be the whole question (hence doubtful, not unfinished).
    """
    auxiliaries = _VERB_NEEDING_AUXILIARIES.get(language, frozenset())
    questions = _QUESTION_WORDS.get(language, frozenset())
    pronouns = _PRONOUNS.get(language, frozenset())
    if len(words) < 2 or words[-1] not in pronouns or words[-2] not in auxiliaries:
        return False
    return len(words) == 2 or bool(questions.intersection(words[:-2]))


def _words(text: str) -> list[str]:
    """``text``'s words, lower case, without the punctuation around them."""
    return [word.strip(".,?!'\"") for word in text.lower().split()]


def _subject_without_verb(words: list[str], language: str) -> bool:
    """The last clause is an auxiliary question that stops after its subject.

    "how does photosynthesis", "why do the leaves", "can plants": the auxiliary opens the
    sentence or follows a question word, and at most one word besides determiners comes
    after it, so there is a subject (not a pronoun) and no verb yet.
    """
    auxiliaries = _VERB_NEEDING_AUXILIARIES.get(language, frozenset())
    questions = _QUESTION_WORDS.get(language, frozenset())
    determiners = _DETERMINERS.get(language, frozenset()) | _UNFINISHED_ENDINGS[language]
    for index in range(len(words) - 2, -1, -1):
        if words[index] in auxiliaries and (index == 0 or words[index - 1] in questions):
            subject = [w for w in words[index + 1 :] if w not in determiners]
            return len(subject) == 1 and subject[0] not in _PRONOUNS.get(language, ())
    return False


@dataclass(frozen=True)
class TurnVerdict:
    """What the judge made of a pause.

    Attributes:
        complete: True when the turn is over; False when the student should get more time;
            None when nobody judged (the model was busy), so the silence rule applies.
        probability: The model's probability that the turn is complete; None when the model
            was not heard (unjudged, or the words settled the verdict alone).
        unfinished_words: The words so far end mid-sentence (overrides the model).
        doubtful_words: The words end where speakers mostly pause ("tell me about"): the
            model's short hold, whatever it says.
        sentence_end: log10 P(end of sentence | the last words), English only; None unknown.
    """

    complete: bool | None
    probability: float | None = None
    unfinished_words: bool = False
    doubtful_words: bool = False
    sentence_end: float | None = None


UNJUDGED = TurnVerdict(complete=None)


@dataclass(frozen=True)
class WordsReading:
    """What the words so far say, before the model is heard.

    Attributes:
        unfinished: They end mid-sentence: the turn waits, whatever the model says.
        doubtful: They end where speakers mostly pause: the model's short hold, whatever it
            says.
        finished: Their sentence-end probability reads finished: complete unless held.
        end: log10 P(end of sentence | the last words); None unknown.
    """

    unfinished: bool
    doubtful: bool
    finished: bool
    end: float | None

    @property
    def holds(self) -> bool:
        """The words hold the turn, whatever the model says."""
        return self.unfinished or self.doubtful

    @property
    def decides(self) -> bool:
        """The verdict does not depend on the model's probability."""
        return self.holds or self.finished


#: log10 P(</s> | last two words) at or above which the words read finished: a model's doubt
#: does not hold the turn. 43 of 50 finished tutoring questions score at least this
#: (``benchmarks.sentence_end_set``, apart from the tests' and benchmarks' questions); of the
#: 40 thinking stops there, those that do are mostly whole sentences ("can you help me").
LIKELY_END = -1.0
#: Below this the words are doubtful: none of those 50 finished questions (lowest -1.35); 8
#: of the 20 thinking stops that no word rule holds ("what is the biggest", "how many").
UNLIKELY_END = -1.4

#: An early judgement (``turn_early_ms`` into a pause) ends the turn at the pause only when
#: the model is at least this sure: 20 of 24 Piper takes of finished questions scored >= 0.8
#: two windows before the pause, and no thinking-pause half that the pause's own judgement
#: would have held (a probe over 8 questions x 3 takes, and espeak-ng).
EARLY_THRESHOLD = 0.8


class TurnJudge:
    """Decides at a pause whether a turn is complete (``SmartTurnModel`` plus the words).

    Args:
        model: The audio model.
        threshold: Probability at or above which the model's verdict is "complete".
    """

    def __init__(
        self,
        model: SmartTurnModel,
        *,
        threshold: float = 0.5,
        early_threshold: float = EARLY_THRESHOLD,
        sentence_ends: SentenceEndModel | None = None,
    ) -> None:
        self.model = model
        self.sentence_ends = sentence_ends
        self.threshold = threshold
        self.early_threshold = max(early_threshold, threshold)
        self._calls = 0
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_path: str = "",
        *,
        threshold: float = 0.5,
        early_threshold: float = EARLY_THRESHOLD,
    ) -> TurnJudge:
        """Loads the model (from ``model_path``, or the pipecat-ai wheel when empty), and the
        sentence-end model where pocketsphinx is installed.

        Raises:
            StartupError: The model is missing or not a Smart Turn v3 model.
        """
        model = SmartTurnModel(Path(model_path) if model_path else None)
        return cls(
            model,
            threshold=threshold,
            early_threshold=early_threshold,
            sentence_ends=SentenceEndModel.load(),
        )

    @property
    def calls(self) -> int:
        """Model inferences run so far (for tests and metrics)."""
        return self._calls

    def judge(self, audio: np.ndarray, words: str = "", language: str = "en") -> TurnVerdict:
        """The verdict on a pause (blocking: ~50 ms of model time; run it on a worker).

        Args:
            audio: The utterance up to now at 16 kHz, float in [-1, 1].
            words: The recognizer's hypothesis so far ("" when it has none).
            language: Primary language subtag of the speech.
        """
        return self.verdict(self.probability(audio), words, language)

    def probability(self, audio: np.ndarray) -> float:
        """The model's probability that ``audio`` ends a turn (blocking, ~50 ms)."""
        probability = self.model.probability(audio)
        with self._lock:
            self._calls += 1
        return probability

    def verdict(self, probability: float, words: str = "", language: str = "en") -> TurnVerdict:
        """The verdict from the model's probability and the words so far (no inference)."""
        reading = self.read(words, language)
        complete = (probability >= self.threshold or reading.finished) and not reading.holds
        logger.debug(
            "end of turn: p=%.2f sentence end=%s unfinished words=%s doubtful words=%s -> %s",
            probability,
            "-" if reading.end is None else f"{reading.end:.2f}",
            reading.unfinished,
            reading.doubtful,
            complete,
        )
        return TurnVerdict(
            complete, round(probability, 4), reading.unfinished, reading.doubtful, reading.end
        )

    def read(self, words: str, language: str = "en") -> WordsReading:
        """What the words so far say about the turn, without the model."""
        unfinished = unfinished_by_words(words, language)
        end = self.sentence_end(words, language)
        unlikely_end = (
            end is not None and end < UNLIKELY_END and not fronted_object(words, language)
        )
        doubtful = not unfinished and (doubtful_by_words(words, language) or unlikely_end)
        finished = end is not None and end >= LIKELY_END
        return WordsReading(unfinished, doubtful, finished, end)

    def words_verdict(self, words: str, language: str = "en") -> TurnVerdict | None:
        """The verdict of words that settle it alone, without the model (its probability is
        None); None when it needs the model."""
        reading = self.read(words, language)
        if not reading.decides:
            return None
        complete = reading.finished and not reading.holds
        logger.debug("end of turn by the words alone: %s", complete)
        return TurnVerdict(complete, None, reading.unfinished, reading.doubtful, reading.end)

    def sentence_end(self, words: str, language: str = "en") -> float | None:
        """log10 P(end of sentence | the last words); None without words, model or English."""
        tokens = _words(words)
        if language != "en" or self.sentence_ends is None or not tokens:
            return None
        end = self.sentence_ends.log10_end(tokens)
        return None if end is None else round(end, 3)

    def early_verdict(
        self, probability: float, words: str = "", language: str = "en"
    ) -> TurnVerdict | None:
        """The verdict from a probability taken early in the pause, if it is sure enough.

        Sure means at least ``early_threshold``: with less silence heard the model doubts
        finished questions more, but a confident early "complete" stays complete later.
        Words that decide the verdict themselves need no surer model (``WordsReading``).
        None: judge the pause itself.
        """
        if probability < self.early_threshold and not self.read(words, language).decides:
            return None
        return self.verdict(probability, words, language)
