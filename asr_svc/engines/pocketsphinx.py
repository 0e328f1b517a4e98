"""PocketSphinx: the embedded default engine (its English model ships in the wheel).

Decodes incrementally (``process_raw`` as audio arrives), so interim results cost nothing and
the final result is ready as soon as the utterance ends. A stream of a tutor with documents, or
with phrase hints, is decoded with that tutor's own language model (``asr_svc.language_model``:
the documents, questions about them, everyday English, the hints weighted up); built once per
content and kept. Without either, the general English model is used.

Decoders are not thread-safe and are costly to build (a general-model decoder takes ~0.5 s and
~90 MB), so each stream owns one and returns it to a small idle pool when it ends, keyed by
its language model. Cepstral mean normalization adapts to the channel as a decoder hears
speech; new decoders start from the most recent estimate instead of the model's default.

A tutor's final transcript that the recognizer doubts and that reads like everyday English
rather than the tutor's material (most questions off the tutor's topics) is decoded again with
the general model, and the transcript a sentence-level mixture of the two models prefers is
the final one (``language_model.sentence_choice``; a chooser fitted on the spoken-question
set, ``language_model.transcript_choice``, can take that choice: ``USE_CHOOSER``, off).
Interim results stay the tutor model's.

The tutor's question model (only the questions its documents make: small and sharp) hears a
question about the material right where the broad model's general words pull it apart ("what
is magma" -> "what is lot lot"). By default it decodes a tutor's doubtful finals that read as
the material again after they end, and its transcript joins that choice (the question
model's second opinion; ``QUESTION_OPINION_BELOW``); with ``ASR_QUESTION_MODEL`` it decodes
every utterance as it arrives instead (~45% more CPU, no delay at the final).

With Whisper's rescoring (``whisper_rescoring``; on when its model is installed, as the asr
extra does), a tutor's streams decode with both models as audio arrives, and Whisper chooses
each final among their finals, their five likeliest transcripts and its own transcript,
weighed with the sentence mixture; Moonshine tiny (``moonshine_scoring``; on when ``make
install`` has put it in the venv) scores the likeliest few again, and its score joins the
choice. The second opinions above are then not needed. Streams without a tutor's documents
keep pocketsphinx's own final.
"""

from __future__ import annotations

import functools
import itertools
import logging
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from asr_svc.confidence import INTERCEPT, SLOPE, transcript_confidence, word_confidence
from asr_svc.config import AsrSettings
from asr_svc.engines import faster_whisper, moonshine_scoring, whisper_rescoring
from asr_svc.engines.base import (
    SAMPLE_RATE,
    AsrEngine,
    EngineCapabilities,
    EngineStream,
    RecognizedWord,
    StreamSpec,
    Transcript,
    supported,
)
from asr_svc.language_model.arpa_model import ArpaModel, build_arpa_model
from asr_svc.language_model.corpus import TutorText, corpus_key, corpus_lines, question_lines
from asr_svc.language_model.general_mix import GeneralModel
from asr_svc.language_model.pronunciations import Pronouncer, read_dictionary
from asr_svc.language_model.sentence_choice import Candidate, SentenceMixture, acoustic_score
from asr_svc.language_model.transcript_choice import GENERAL, QUESTIONS, TUTOR, Heard
from asr_svc.language_model.transcript_choice import best as choose_transcript
from asr_svc.language_model.words import base_word
from svc_core.audio import espeak_samples, float_to_pcm16
from svc_core.errors import InvalidArgument
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

_GENERAL = "general"  # pool key of decoders with the general language model
_FRAME_MS = 10  # seg() reports times in 10 ms frames
_CMN_SMOOTHING = 0.3  # weight of the latest utterance in the channel's cepstral mean
_MODELS_KEPT = 16  # tutor models kept in memory (each is a few hundred KB of ARPA text)
#: Search settings of decoders with a tutor's model, measured on the dev split of the spoken
#: question set (benchmarks.asr_accuracy). A tutor's model predicts its students' words
#: well enough for the forward tree search and the best path through its lattice: the flat
#: second pass (``fwdflat``) made no fewer errors, at 1.5 times the CPU time. Without it the
#: language weight of the first pass rises from 6.5 to 8 (on-topic WER 0.26/0.36 clean/noisy
#: -> 0.25/0.35, RTF 0.09/0.11 -> 0.05/0.06); higher or lower weights did worse.
TUTOR_SEARCH: dict[str, Any] = {"fwdflat": False, "lw": 8.0, "bestpathlw": 10.0}
#: Search settings of decoders with the general model (tutors without documents): one pass,
#: like tutors'. Its flat second pass at the end of each utterance (``ASR_GENERAL_TWO_PASS``)
#: cost ~50 ms more per final transcript (end_utt p50 75 -> 25 ms on Piper questions), in a
#: wave of eight finals ~0.4 s, and changed the words the gateway had speculated on in 14 of
#: 36 Piper takes (10 of 36 one-pass). WER with one pass / two: general questions in Piper's
#: voice 0.200 / 0.233 (24), in espeak-ng's 0.560 / 0.653 (12); the spoken set's on-topic
#: 0.733 / 0.740 (81), off-topic 0.563 / 0.485 (18).
GENERAL_SEARCH: dict[str, Any] = {"fwdflat": False}
#: A tutor's final transcript is decoded with the general model too (``sentence_choice``)
#: when its confidence is under FALLBACK_BELOW and the tutor's model finds it less than
#: FALLBACK_MARGIN nats a word likelier than the general model does (it could as well be
#: everyday English). Measured on the dev split (clean / 20 dB noise) without the question
#: model: 0.65 and 1.5 sent 12% / 19% of finals to the second decoder, and off-topic WER fell
#: from 0.58 / 0.565 to 0.52 / 0.42 (the general model alone: 0.54 / 0.42). With the question
#: model's transcript competing too, more off-topic finals need the general one: 0.8 and 1.5
#: kept off-topic WER at 0.46 / 0.49 (0.65: 0.59 / 0.57) for ~20% of finals decoded again
#: (a margin of 2 or 2.5: the same WER from 30-40%): QUESTIONS_FALLBACK_BELOW.
FALLBACK_BELOW = 0.65
QUESTIONS_FALLBACK_BELOW = 0.8
FALLBACK_MARGIN = 1.5
#: The general decoder of second opinions knows the general model's this many most frequent
#: words. Searching them is most of its cost (its acoustic scoring costs what the tutor
#: decoder's does). 10,000 -> 5,000 words, benchmarks.asr_accuracy --splits dev,fit: off-topic
#: WER no worse (fit 0.435/0.580 -> 0.412/0.573 clean/noisy), on-topic within a word, CPU RTF
#: fit 0.099/0.128 -> 0.091/0.119; 3,000 words lost off-topic words.
FALLBACK_WORDS = 5000
#: Without the streamed question model (``ASR_QUESTION_MODEL``), a tutor's doubtful final
#: that reads as its material gets the question model's second opinion instead: the question
#: decoder hears the utterance's audio after it ends, when the tutor decoder's confidence is
#: under QUESTION_OPINION_BELOW and the tutor's model finds the words at least
#: QUESTION_OPINION_MARGIN nats a word likelier than the general model does; the general
#: model's second opinion then goes to doubtful finals (under QUESTIONS_FALLBACK_BELOW) that
#: read as everyday English (margin under FALLBACK_MARGIN). Chosen on the dev split (clean /
#: 20 dB white noise; simulated from every decoder's transcripts, then measured with
#: benchmarks.asr_accuracy): on-topic WER 0.261/0.365 -> 0.207/0.313 (with the tutors' models'
#: TUTOR_GENERAL_WORDS), the question decoder hearing 26%/49% of finals again; 0.7 heard
#: 39%/64% again for 0.216/0.313, 0.75 59%/78% for 0.210/0.301, both over the RTF budget on
#: the held-out split. ``ASR_QUESTION_OPINION=false`` turns it off.
QUESTION_OPINION_BELOW = 0.65
QUESTION_OPINION_MARGIN = 0.5
#: Search settings of decoders with a tutor's question model. Its few hundred words leave
#: little to search: its cost is the acoustic scoring (RTF ~0.03-0.04 on the dev split, which
#: narrower beams or fewer HMMs a frame did not lower, while they cost words). Scoring every
#: second frame (``ds=2``) saved a sixth of all decoders' CPU but lost the gain on held-out
#: clean questions (on-topic WER 0.375, every frame 0.289). lw 6.5 and 10 did worse than 8.
#: Eight Gaussians of each codebook score a frame (``topn``; pocketsphinx's default is 4):
#: the question decoder alone on the dev split's on-topic questions, WER 0.219/0.292 ->
#: 0.207/0.289 clean/20 dB white noise, for ~20% more of its CPU (RTF 0.038 -> 0.046); 16
#: was no better. The tutor decoder with 8 heard on-topic questions better too but off-topic
#: ones worse (dev 0.493/0.406 -> 0.507/0.478), at a quarter more CPU: it keeps 4.
QUESTION_SEARCH: dict[str, Any] = {"fwdflat": False, "lw": 8.0, "bestpathlw": 10.0, "topn": 8}
#: (slope, intercept) of the question decoder's word confidences (``confidence``): its
#: posteriors mean more than the tutor decoder's. Fitted on its words of the dev split's
#: on-topic questions (979 words, clean, white and pink noise), where the tutor decoder's map
#: gave an expected calibration error of 0.091, this one 0.049.
QUESTION_CONFIDENCE = (0.305, 0.763)
#: (slope, intercept, agreement) of the word confidences of the question model's second
#: opinion: its word is right far more often where the tutor decoder heard it too (76% of
#: words against 27%, on the dev split's doubtful finals), so a word the tutor's transcript
#: has adds ``agreement`` to the intercept. Fitted on its 450 words there (clean and 20 dB
#: white noise): expected calibration error 0.068 with QUESTION_CONFIDENCE, 0.043 with this.
QUESTION_OPINION_CONFIDENCE = (0.282, -1.069, 1.978)


#: Whether a tutor's final is chosen by the fitted chooser (``language_model.transcript_choice``)
#: when the general model's transcript is among its candidates; False: by the sentence
#: mixture's score alone (``sentence_choice``). Off: on the dev split it chose no better than
#: the mixture (benchmarks.asr_accuracy, clean/20 dB: on-topic 0.216/0.301 -> 0.222/0.295,
#: off-topic 0.493/0.464 -> 0.493/0.478; decoded as the tests decode it, 2 words worse of 796).
USE_CHOOSER = False


class PocketsphinxEngine(AsrEngine):
    """Speech recognition with PocketSphinx 5 and its bundled US English model."""

    name = "pocketsphinx"

    def __init__(self, settings: AsrSettings) -> None:
        self._settings = settings
        self._idle: OrderedDict[str, list[Any]] = OrderedDict()
        self._idle_count = 0
        # Idle general decoders for second opinions, apart from the LRU pool: in a busy class
        # they are used now and then, and rebuilding one (~0.5 s) would delay a final.
        self._fallbacks: list[Any] = []
        #: How many finals got a second opinion (for benchmarks and logs): the general
        #: model's, and the question model's.
        self.second_opinions = 0
        self.question_opinions = 0
        #: How many finals Whisper chose (``whisper_rescoring``).
        self.rescored = 0
        # The question model's second opinion on doubtful finals (see QUESTION_OPINION_BELOW),
        # when its decoder is not streamed anyway.
        self._question_opinion = settings.question_opinion and not settings.question_model
        self._lock = threading.Lock()
        self._cmn: str | None = None
        self._dictionary: dict[str, list[str]] = {}
        self._pronouncer = Pronouncer({})
        self._general: GeneralModel | None = None
        self._models: OrderedDict[tuple[str, tuple[str, ...]], _TutorModels] = OrderedDict()
        self._model_dir: Path | None = None
        self._decoder_class: Any = None
        #: Whisper, choosing tutors' finals (``whisper_rescoring``); None: pocketsphinx alone.
        self.rescorer: whisper_rescoring.WhisperRescorer | None = None
        #: Moonshine, scoring the rescorer's candidates too (``moonshine_scoring``); None:
        #: Whisper alone.
        self.second_judge: moonshine_scoring.MoonshineScorer | None = None

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(incremental=True, word_timings=True, languages=("en",))

    def load(self) -> None:
        if self._decoder_class is not None:
            return
        try:
            import pocketsphinx
        except ImportError as exc:
            raise StartupError(
                "ASR_ENGINE=pocketsphinx needs the pocketsphinx package: install the asr extra "
                "(pip install 'virtual-tutor[asr]')"
            ) from exc
        model_dir = Path(pocketsphinx.get_model_path()) / "en-us"
        dictionary = model_dir / "cmudict-en-us.dict"
        if not (model_dir / "en-us").is_dir() or not dictionary.is_file():
            raise StartupError(
                f"pocketsphinx's English model is missing under {model_dir}: reinstall "
                "pocketsphinx>=5 (the wheel carries it)"
            )
        self._decoder_class = pocketsphinx.Decoder
        self._model_dir = model_dir
        self._dictionary = read_dictionary(dictionary)
        self._pronouncer = Pronouncer(self._dictionary)
        # Mixed into every knowledge-base tutor's model (see tutor_model), so it widens the
        # general vocabulary for its students, never narrows it.
        self._general = GeneralModel(model_dir / "en-us.lm.bin", self._dictionary)
        # Build one general decoder now: it proves the model loads, and the first stream
        # without hints need not wait for it. It hears one synthetic sentence first, so
        # streams start from a speech-like channel estimate rather than the model's default,
        # which is far off: without one, every stream opened before anyone has spoken (a
        # class joining at once) decodes its first utterance twice.
        decoder = self._new_decoder(None)
        if self._cmn is None and (estimate := _synthetic_speech_channel(decoder)) is not None:
            self._cmn = estimate
        self._release(_GENERAL, decoder)
        self.rescorer = self._load_rescorer()
        if self.rescorer is not None:
            self.second_judge = self._load_second_judge()
        # With the rescorer, tutors' streams need neither second opinion: Whisper's own
        # transcript hears everyday English, and the question model streams.
        if self._settings.off_topic_fallback and self.rescorer is None:
            # Built now as well: the first doubtful final should not wait ~0.5 s for it.
            self._fallbacks.append(self._new_fallback_decoder())
        logger.info("pocketsphinx ready (%d dictionary words)", len(self._dictionary))

    def _load_rescorer(self) -> whisper_rescoring.WhisperRescorer | None:
        model_dir = _model_dir(
            self._settings.rescore_model,
            "ASR_RESCORE_MODEL",
            whisper_rescoring.bundled_model_dir,
            "a CTranslate2 Whisper model",
        )
        if model_dir is None:
            return None
        rescorer = whisper_rescoring.WhisperRescorer(model_dir, self._settings.worker_threads)
        logger.info("tutors' transcripts rescored by Whisper from %s", model_dir)
        return rescorer

    def _load_second_judge(self) -> moonshine_scoring.MoonshineScorer | None:
        model_dir = _model_dir(
            self._settings.moonshine_model,
            "ASR_MOONSHINE_MODEL",
            moonshine_scoring.bundled_model_dir,
            "a Moonshine ONNX model",
        )
        if model_dir is None:
            return None
        judge = moonshine_scoring.MoonshineScorer(model_dir)
        logger.info("tutors' transcripts scored by Moonshine too, from %s", model_dir)
        return judge

    def open_stream(self, spec: StreamSpec) -> EngineStream:
        if not supported(spec.language, self.capabilities.languages):
            raise InvalidArgument(
                f"language {spec.language!r} is not supported by the pocketsphinx engine "
                "(English only)"
            )
        models = self._tutor_models(spec)
        model = models.tutor
        key = model.key if model is not None else _GENERAL
        decoder = self._take(key) or self._new_decoder(model)
        # Only tutors' models (documents, the general model mixed in) get the second opinion:
        # a caller's phrase hints alone say what it expects to hear.
        documents = spec.knowledge.documents if spec.knowledge is not None else ()
        tutor = bool(documents) and model is not None
        rescore = self.rescorer is not None and tutor
        fallback = self._settings.off_topic_fallback and tutor and not rescore
        questions = None
        opinion = None
        if models.questions is not None and model is not None:
            if self._settings.question_model or rescore:
                question_key = models.questions.key
                question_decoder = self._take(question_key) or self._new_decoder(
                    models.questions, QUESTION_SEARCH
                )
                questions = (question_key, question_decoder)
            elif self._question_opinion and documents and not rescore:
                opinion = models.questions
        return PocketsphinxStream(
            self,
            key,
            decoder,
            cold=self.channel_estimate is None,
            fallback=fallback,
            questions=questions,
            question_opinion=opinion,
            rescore=rescore,
            hotwords=models.hotwords,
        )

    def tutor_model(self, spec: StreamSpec) -> ArpaModel | None:
        """The language model of a stream's tutor (built, or remembered); None: the general one.

        Models are kept by the knowledge base's content hash and the hints, so a tutor's
        streams share one, and changed documents (a new hash) get a new one.
        """
        return self._tutor_models(spec).tutor

    def question_model(self, spec: StreamSpec) -> ArpaModel | None:
        """The question model of a stream's tutor (``corpus.question_lines``); None for a
        tutor without documents, or with the question model (streamed or as a second opinion)
        turned off."""
        return self._tutor_models(spec).questions

    def _tutor_models(self, spec: StreamSpec) -> _TutorModels:
        knowledge = spec.knowledge
        documents = knowledge.documents if knowledge is not None else ()
        if not documents and not spec.phrase_hints:
            return _TutorModels(None, None)
        content = knowledge.content_hash if knowledge is not None else ""
        cache_key = (content or corpus_key(documents), spec.phrase_hints)
        with self._lock:
            if cache_key in self._models:
                self._models.move_to_end(cache_key)
                return self._models[cache_key]
        text = TutorText(documents=documents, hints=spec.phrase_hints)
        known = self._dictionary.__contains__
        # The general model joins tutors' models, whose students talk beyond the documents
        # (measured on held-out questions). A caller's phrase hints alone name what it expects
        # to hear: their model stays light and sharp (the general mix cost hinted sentences
        # their words: "the capital of france is paris" -> "... draw it is hot if").
        general = self._general if documents else None
        model = build_arpa_model(corpus_lines(text, known), self._pronouncer, general)
        if model is not None and model.unknown_words:
            logger.debug("%d words have no pronunciation", len(model.unknown_words))
        questions = None
        if (
            documents
            and model is not None
            # The rescorer weighs the question model's transcripts too.
            and (self._settings.question_model or self._question_opinion or self.rescorer)
        ):
            questions = build_arpa_model(question_lines(text, known), self._pronouncer)
        hotwords = ""
        if documents and self.rescorer is not None:
            hotwords = faster_whisper.hotwords(
                spec.phrase_hints, documents, max_terms=whisper_rescoring.PROMPT_TERMS
            )
        models = _TutorModels(model, questions, hotwords)
        with self._lock:
            self._models[cache_key] = models
            while len(self._models) > _MODELS_KEPT:
                self._models.popitem(last=False)
        return models

    async def close(self) -> None:
        with self._lock:
            self._idle.clear()
            self._idle_count = 0
            self._fallbacks.clear()
            self._models.clear()

    def _new_decoder(self, domain: ArpaModel | None, search: dict[str, Any] | None = None) -> Any:
        options: dict[str, Any] = {
            "samprate": SAMPLE_RATE,
            "loglevel": "FATAL",
            # Digital silence (a muted microphone) has no spectrum at all, which throws off
            # the features; a fixed-seed dither keeps results repeatable.
            "dither": True,
            "seed": 1,
        }
        with tempfile.TemporaryDirectory(prefix="asr-lm-") as folder:
            if domain is not None:
                lm_path, dict_path = domain.write(Path(folder))
                options.update(lm=str(lm_path), dict=str(dict_path), **(search or TUTOR_SEARCH))
            elif not self._settings.general_two_pass:
                options.update(GENERAL_SEARCH)
            # The decoder reads its files while it is built; the folder may go afterwards.
            decoder = self._decoder_class(**options)
        cmn = self.channel_estimate
        if cmn is not None:
            decoder.set_cmn(cmn)
        return decoder

    def _new_fallback_decoder(self) -> Any:
        """A general-model decoder for second opinions: its dictionary only the general
        model's FALLBACK_WORDS most frequent words, searched as tutors' models are (the full
        general decoder costs RTF 0.3-0.4)."""
        assert self._general is not None and self._model_dir is not None
        words = sorted(self._general.top_words(FALLBACK_WORDS))
        with tempfile.TemporaryDirectory(prefix="asr-lm-") as folder:
            dict_path = Path(folder) / "general.dict"
            dict_path.write_text(
                "".join(line for word in words for line in self._dictionary[word]),
                encoding="utf-8",
            )
            decoder = self._decoder_class(
                samprate=SAMPLE_RATE,
                loglevel="FATAL",
                dither=True,
                seed=1,
                dict=str(dict_path),
                **TUTOR_SEARCH,
            )
        return decoder

    def second_opinion(self, audio: bytes, cmn: str | None) -> tuple[Transcript, Candidate | None]:
        """The general model's transcript of an utterance (and its candidate for the choice).

        Args:
            audio: The utterance's 16 kHz s16le samples.
            cmn: The channel estimate the first decoder started the utterance from.
        """
        with self._lock:
            decoder = self._fallbacks.pop() if self._fallbacks else None
            self.second_opinions += 1
        decoder = decoder or self._new_fallback_decoder()
        try:
            if cmn is not None:
                decoder.set_cmn(cmn)
            decoder.start_utt()
            decoder.process_raw(audio, False, True)
            decoder.end_utt()
            return _transcript(decoder)
        finally:
            with self._lock:
                if len(self._fallbacks) < max(1, self._settings.idle_decoders):
                    self._fallbacks.append(decoder)

    def question_decoder(self, model: ArpaModel, audio: bytes, cmn: str | None) -> Any:
        """A decoder of ``model`` (a tutor's question model) that has heard ``audio``; give it
        back with ``release_question_decoder`` once its result and language model are read.

        Args:
            model: The tutor's question model.
            audio: The utterance's 16 kHz s16le samples.
            cmn: The channel estimate the tutor's decoder started the utterance from.
        """
        with self._lock:
            self.question_opinions += 1
        decoder = self._take(model.key) or self._new_decoder(model, QUESTION_SEARCH)
        if cmn is not None:
            decoder.set_cmn(cmn)
        decoder.start_utt()
        decoder.process_raw(audio, False, True)
        decoder.end_utt()
        return decoder

    def release_question_decoder(self, model: ArpaModel, decoder: Any) -> None:
        """Returns a decoder from ``question_decoder`` to the idle pool."""
        self._release(model.key, decoder)

    def general_log10_prob(self) -> Callable[[str, Sequence[str]], float]:
        """log10 P(word | history) under the general English model."""
        assert self._general is not None
        return self._general.log10_prob

    @property
    def channel_estimate(self) -> str | None:
        """The cepstral mean new decoders start from; None until a decoder has heard speech."""
        with self._lock:
            return self._cmn

    def reset_adaptation(self, cmn: str | None = None) -> None:
        """Forgets what decoders learnt of the channel: drops idle decoders, sets the estimate.

        Args:
            cmn: The cepstral mean to start from, as ``Decoder.get_cmn()`` gives it; None for
                the model's default.
        """
        with self._lock:
            self._idle.clear()
            self._idle_count = 0
            self._cmn = cmn

    def _remember_cmn(self, cmn: str) -> None:
        # A moving average over utterances: one odd utterance (or voice) should not swing
        # the starting point of every decoder built after it.
        try:
            new = [float(value) for value in cmn.split(",")]
        except ValueError:
            return
        with self._lock:
            old = [float(value) for value in self._cmn.split(",")] if self._cmn else new
            if len(old) != len(new):
                old = new
            mean = [o + _CMN_SMOOTHING * (n - o) for o, n in zip(old, new, strict=True)]
            self._cmn = ",".join(f"{value:.4f}" for value in mean)

    def _take(self, key: str) -> Any | None:
        with self._lock:
            decoders = self._idle.get(key)
            if not decoders:
                return None
            decoder = decoders.pop()
            self._idle_count -= 1
            if not decoders:
                del self._idle[key]
            return decoder

    def _release(self, key: str, decoder: Any) -> None:
        with self._lock:
            if self._settings.idle_decoders <= 0:
                return
            self._idle.setdefault(key, []).append(decoder)
            self._idle.move_to_end(key)
            self._idle_count += 1
            while self._idle_count > self._settings.idle_decoders:
                # Drop the least recently used hint set's decoders first.
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                self._idle_count -= 1
                if not self._idle[oldest]:
                    del self._idle[oldest]


class PocketsphinxStream(EngineStream):
    """One stream's decoder; utterances are decoded as their audio arrives.

    A tutor's stream has a second decoder with the tutor's question model, which hears the
    same audio from the same channel estimate; its transcript competes for the final one.
    """

    def __init__(
        self,
        engine: PocketsphinxEngine,
        key: str,
        decoder: Any,
        *,
        cold: bool,
        fallback: bool = False,
        questions: tuple[str, Any] | None = None,
        question_opinion: ArpaModel | None = None,
        rescore: bool = False,
        hotwords: str = "",
    ) -> None:
        self._engine = engine
        self._key = key
        self._decoder = decoder
        self._questions = questions
        # The tutor's question model, for a second opinion on doubtful finals (not streamed).
        self._question_opinion = question_opinion
        self._in_utterance = False
        # A tutor's stream keeps each utterance's audio for second opinions on its final.
        self._fallback = fallback
        # Whisper chooses the final among the decoders' likeliest transcripts and its own.
        self._rescore = rescore
        self._hotwords = hotwords  # prompting Whisper's own transcript
        self._utterance_cmn: str | None = None
        # Until some decoder has heard speech, the cepstral mean is the model's default, which
        # is far off for many channels: the first utterance is decoded twice, the second time
        # with the mean the first pass estimated. Only then is its audio kept.
        self._cold = cold
        self._audio: list[bytes] = []

    def _decoders(self) -> list[Any]:
        return [self._decoder] + ([self._questions[1]] if self._questions is not None else [])

    def start_utterance(self) -> None:
        if self._cold and (estimate := self._engine.channel_estimate) is not None:
            # Another stream learnt the channel since this one opened (students join a class
            # before anyone speaks): start from that, and spare this utterance a second pass.
            self._decoder.set_cmn(estimate)
            self._cold = False
        self._utterance_cmn = self._decoder.get_cmn()
        for decoder in self._decoders():
            if decoder is not self._decoder:
                # Both decoders start from one channel estimate: their acoustic scores compare.
                decoder.set_cmn(self._utterance_cmn)
            decoder.start_utt()
        self._in_utterance = True
        self._audio = []

    def accept(self, samples: np.ndarray) -> None:
        data = samples.astype("<i2", copy=False).tobytes()
        if not data:
            return  # process_raw fails on an empty buffer
        if self._cold or self._fallback or self._rescore or self._question_opinion is not None:
            self._audio.append(data)
        for decoder in self._decoders():
            decoder.process_raw(data, False, False)

    def interim(self) -> str:
        hypothesis = self._decoder.hyp()
        return _clean_text(hypothesis.hypstr) if hypothesis is not None else ""

    def finish(self, keep_samples: int) -> Transcript:
        # Audio after keep_samples is trailing silence: decoding it costs little and changes
        # nothing, so it stays (the decoder cannot take audio back anyway).
        for decoder in self._decoders():
            decoder.end_utt()
        self._in_utterance = False
        if self._cold and self._audio:
            self._cold = False
            self._utterance_cmn = self._decoder.get_cmn()
            for decoder in self._decoders():
                decoder.set_cmn(self._utterance_cmn)
                decoder.start_utt()
                decoder.process_raw(b"".join(self._audio), False, False)
                decoder.end_utt()
        self._engine._remember_cmn(self._decoder.get_cmn())
        transcript, candidate = _transcript(self._decoder)
        audio, self._audio = b"".join(self._audio), []
        if candidate is None or not transcript.words:
            return transcript
        if self._rescore and whisper_rescoring.WhisperRescorer.fits(audio):
            return self._rescored(transcript, audio)
        finals = [(transcript, candidate)]
        question_decoder = self._questions[1] if self._questions is not None else None
        margin = SentenceMixture(
            self._tutor_log10_prob, self._engine.general_log10_prob()
        ).tutor_margin(candidate.words)
        opinion = self._question_opinion
        if (
            opinion is not None
            and transcript.confidence < QUESTION_OPINION_BELOW
            # A doubtful final that reads as the tutor's material: a question about it?
            and margin >= QUESTION_OPINION_MARGIN
        ):
            question_decoder = self._engine.question_decoder(opinion, audio, self._utterance_cmn)
        # Each final's decoder, and the confidence the chooser weighs (the question decoder's
        # own calibration, as the chooser was fitted with, not the opinion's).
        sources = [(TUTOR, transcript.confidence)]
        try:
            if question_decoder is not None:
                heard, heard_candidate = _transcript(question_decoder, QUESTION_CONFIDENCE)
                chooser_confidence = heard.confidence
                if opinion is not None:
                    heard, heard_candidate = _transcript(
                        question_decoder,
                        QUESTION_OPINION_CONFIDENCE[:2],
                        agreement=(QUESTION_OPINION_CONFIDENCE[2], frozenset(candidate.words)),
                    )
                if heard_candidate is not None and heard.words:
                    finals.append((heard, heard_candidate))
                    sources.append((QUESTIONS, chooser_confidence))
            question_model = None
            if question_decoder is not None:
                question_model = functools.partial(_log10_prob, question_decoder)
            mixture = SentenceMixture(
                self._tutor_log10_prob,
                self._engine.general_log10_prob(),
                question_model=question_model,
            )
            questions = self._questions is not None or opinion is not None
            if (
                self._fallback
                and transcript.confidence
                < (QUESTIONS_FALLBACK_BELOW if questions else FALLBACK_BELOW)
                # A tutor's doubtful final may be everyday English, unless it is plainly the
                # tutor's material.
                and margin < FALLBACK_MARGIN
            ):
                general, general_candidate = self._engine.second_opinion(audio, self._utterance_cmn)
                if general_candidate is not None:
                    finals.append((general, general_candidate))
                    sources.append((GENERAL, general.confidence))
            if len(finals) == 1:
                return transcript
            if not USE_CHOOSER or all(decoder != GENERAL for decoder, _ in sources):
                # Between the tutor's and the question model's transcripts alone, the chooser
                # chose no better than the sentence mixture (dev and fit splits): it decides
                # whether a final is everyday English, where the mixture erred.
                return finals[mixture.best([final[1] for final in finals])][0]
            heard_all = [
                Heard(decoder, final_candidate.words, confidence, mixture.score(final_candidate))
                for (decoder, confidence), (_, final_candidate) in zip(sources, finals, strict=True)
            ]
            return finals[choose_transcript(heard_all, margin)][0]
        finally:
            if opinion is not None and question_decoder is not None:
                self._engine.release_question_decoder(opinion, question_decoder)

    def _rescored(self, transcript: Transcript, audio: bytes) -> Transcript:
        """The final Whisper and the tutor's sentence mixture prefer among the tutor's and the
        question model's likeliest transcripts and Whisper's own (``whisper_rescoring``)."""
        rescorer = self._engine.rescorer
        assert rescorer is not None
        with self._engine._lock:
            self._engine.rescored += 1
        finals = {transcript.text: transcript}
        # Each decoder's own final first: an n-best list may lack it (no lattice).
        candidates = [tuple(transcript.text.split())]
        candidates += _nbest(self._decoder, whisper_rescoring.CANDIDATES_PER_DECODER)
        question_model = None
        if self._questions is not None:
            question_decoder = self._questions[1]
            heard, _ = _transcript(question_decoder)
            finals.setdefault(heard.text, heard)
            candidates.append(tuple(heard.text.split()))
            candidates += _nbest(question_decoder, whisper_rescoring.CANDIDATES_PER_DECODER)
            question_model = functools.partial(_log10_prob, question_decoder)
        utterance = rescorer.hear(audio, self._hotwords)  # Whisper starts its own transcript
        mixture = SentenceMixture(
            self._tutor_log10_prob, self._engine.general_log10_prob(), question_model=question_model
        )
        unique = list(dict.fromkeys(words for words in candidates if words))
        scored = utterance.score(unique)
        # Moonshine hears the utterance while Whisper still transcribes it in the background.
        judge = self._engine.second_judge
        encoded = judge.encode(audio) if judge is not None and judge.fits(audio) else None
        own = utterance.own_transcript()
        if own and own not in unique:
            scored += utterance.score([own])
        # Whisper's score plus the tutor's sentence mixture's, best first.
        ranked = sorted(
            (
                (c.log_prob + whisper_rescoring.LANGUAGE_WEIGHT * mixture.log_prob(c.words), c)
                for c in scored
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        best = ranked[0][1]
        if judge is not None and encoded is not None:
            # The likeliest few get Moonshine's score too (moonshine_scoring).
            judged = ranked[: moonshine_scoring.JUDGED_CANDIDATES]
            second = judge.score(encoded, [c.words for _, c in judged])
            totals = [total + extra for (total, _), extra in zip(judged, second, strict=True)]
            best = judged[totals.index(max(totals))][1]
        # Whisper's word probabilities are the confidences of every rescored final (one
        # calibration: WORD_CONFIDENCE); a decoder's own final keeps the decoder's word times.
        decoded = finals.get(" ".join(best.words))
        timed = best.timed
        if decoded is not None and len(decoded.words) == len(best.timed):
            timed = tuple(
                replace(word, confidence=scored.confidence)
                for word, scored in zip(decoded.words, best.timed, strict=True)
            )
        slope, intercept = whisper_rescoring.WORD_CONFIDENCE
        words = tuple(
            replace(word, confidence=word_confidence(word.confidence, slope, intercept))
            for word in timed
        )
        confidence = transcript_confidence([word.confidence for word in words])
        return Transcript(text=" ".join(best.words), confidence=confidence, words=words)

    def _tutor_log10_prob(self, word: str, history: Sequence[str]) -> float:
        # The decoder's own copy of the tutor's model (no weights applied to its scores).
        return _log10_prob(self._decoder, word, history)

    def close(self) -> None:
        if self._in_utterance:
            # Cancelled mid-utterance: close the utterance so the decoders can be reused.
            for decoder in self._decoders():
                decoder.end_utt()
            self._in_utterance = False
        self._engine._release(self._key, self._decoder)
        if self._questions is not None:
            self._engine._release(*self._questions)


@dataclass(frozen=True)
class _TutorModels:
    """A tutor's language model, its question model (None: none), and the hotwords that
    prompt Whisper's own transcripts when it rescores (``whisper_rescoring``)."""

    tutor: ArpaModel | None
    questions: ArpaModel | None
    hotwords: str = ""


def _model_dir(
    setting: str, variable: str, bundled: Callable[[], Path | None], kind: str
) -> Path | None:
    """The model directory a setting names: "auto" (the installed model, if any), a
    directory, or "off" (None)."""
    setting = setting.strip()
    if setting.lower() in ("off", "none", "false", ""):
        return None
    if setting.lower() == "auto":
        model_dir = bundled()
        if model_dir is None:
            logger.warning(
                "%s=auto, but no such model is installed (make install puts it in place): "
                "tutors' transcripts are chosen without it",
                variable,
            )
        return model_dir
    model_dir = Path(setting).expanduser()
    if not model_dir.is_dir():
        raise StartupError(
            f"{variable}={setting!r} is not a directory: name {kind} directory, 'auto' or 'off'"
        )
    return model_dir


def _log10_prob(decoder: Any, word: str, history: Sequence[str]) -> float:
    """log10 P(word | history) under a decoder's language model."""
    score = decoder.get_lm().prob([word, *reversed(history)])
    return float(decoder.logmath.log_to_log10(score))


def _nbest(decoder: Any, count: int) -> list[tuple[str, ...]]:
    """A decoder's ``count`` likeliest distinct transcripts of its last utterance."""
    # None when the search found no path (a noise-only utterance); many differ in fillers only.
    hypotheses = itertools.islice(decoder.nbest() or (), 5 * count)
    texts = dict.fromkeys(_clean_text(hypothesis.hypstr) for hypothesis in hypotheses)
    return [tuple(text.split()) for text in itertools.islice(texts, count)]


def _synthetic_speech_channel(decoder: Any) -> str | None:
    """The cepstral mean ``decoder`` learns from a sentence espeak-ng speaks; None without it."""
    try:
        samples = espeak_samples(
            "hello, can you hear me? what is the answer", sample_rate=SAMPLE_RATE, timeout_s=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("no synthetic warm-up for the channel estimate: %s", exc)
        return None
    decoder.start_utt()
    decoder.process_raw(float_to_pcm16(samples), False, True)
    decoder.end_utt()
    return str(decoder.get_cmn())


def _transcript(
    decoder: Any,
    calibration: tuple[float, float] | None = None,
    agreement: tuple[float, frozenset[str]] | None = None,
) -> tuple[Transcript, Candidate | None]:
    """A decoder's result for its last utterance, and the candidate of its path (None: no
    path, or an acoustic score that underflowed); ``calibration``: the (slope, intercept) of
    its word confidences, if not the tutor decoders' (``confidence``); ``agreement``: what a
    word's intercept gains when another decoder heard it too, and that decoder's words."""
    slope, intercept = calibration or (SLOPE, INTERCEPT)
    bonus, heard = agreement or (0.0, frozenset())
    hypothesis = decoder.hyp()
    # seg() is None, not empty, when the search found no path (a noise-only utterance)
    segments = list(decoder.seg() or ())
    words = tuple(
        RecognizedWord(
            word=base_word(segment.word),
            start_ms=segment.start_frame * _FRAME_MS,
            end_ms=(segment.end_frame + 1) * _FRAME_MS,
            confidence=word_confidence(
                segment.prob,
                slope,
                intercept + (bonus if base_word(segment.word) in heard else 0.0),
            ),
        )
        for segment in segments
        if _is_word(segment.word)
    )
    text = _clean_text(hypothesis.hypstr) if hypothesis is not None else ""
    confidence = transcript_confidence([w.confidence for w in words])
    transcript = Transcript(text=text, confidence=confidence, words=words)
    acoustic = acoustic_score([segment.ascore for segment in segments]) if segments else None
    if acoustic is None:
        return transcript, None
    return transcript, Candidate(tuple(word.word for word in words), acoustic)


def _is_word(token: str) -> bool:
    # <s>, </s>, <sil> and fillers such as [NOISE] or ++BREATH++ are not words.
    return bool(token) and token[0] not in "<[+"


def _clean_text(text: str) -> str:
    return " ".join(base_word(word) for word in text.split() if _is_word(word))
