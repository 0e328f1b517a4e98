"""asr_svc settings, read from ``ASR_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from asr_svc.end_of_turn import EARLY_THRESHOLD, EndOfTurnMode
from asr_svc.endpointing import EndpointingOptions
from svc_core.settings import ServiceSettings

EngineName = Literal["pocketsphinx", "faster_whisper"]


class AsrSettings(ServiceSettings):
    """Settings of the speech recognition service.

    ``ASR_ENGINE`` picks the engine; ``ASR_MODEL``, ``ASR_DEVICE``, ``ASR_COMPUTE_TYPE`` and
    the other ``whisper``-related fields apply to faster-whisper only.
    """

    model_config = SettingsConfigDict(env_prefix="ASR_", extra="ignore")

    port: int = Field(default=50052, ge=0, le=65535)
    engine: EngineName = "pocketsphinx"
    # faster-whisper: a directory holding a converted model (model.bin, config.json,
    # tokenizer.json), or the name of one already in the local Hugging Face cache. Nothing is
    # downloaded at run time.
    model: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "auto": int8 on CPU, float16 on CUDA.
    compute_type: str = "auto"
    cpu_threads: int = Field(default=0, ge=0, description="0: CTranslate2's default")
    beam_size: int = Field(default=5, ge=1, le=10)
    max_new_tokens: int = Field(default=128, ge=8, le=440)
    # Whisper drops a decode as "no speech" when it is this sure of it (and the text is
    # improbable): a guard against hallucinated text on noise the VAD let through. 1 disables.
    no_speech_threshold: float = Field(default=0.6, ge=0, le=1)

    # Threads for each stream's audio processing (resampling, VAD, pocketsphinx's
    # incremental decoding); worker_threads (ASR_WORKER_THREADS) bounds whole-utterance
    # decodes (faster-whisper) and decoder builds.
    stream_threads: int = Field(default=2, ge=1, le=64)

    # Limits.
    max_streams: int = Field(default=64, ge=1)
    max_chunk_bytes: int = Field(default=64 * 1024, ge=320)
    max_phrase_hints: int = Field(default=1000, ge=0)
    max_phrase_chars: int = Field(default=200, ge=1)
    # The most a client may ask for as max_utterance_ms; bounds each stream's memory.
    max_utterance_limit_ms: int = Field(default=120_000, ge=1_000)
    # Audio chunks read ahead of recognition per stream; beyond it the client is slowed.
    input_queue_chunks: int = Field(default=64, ge=1)

    # Endpointing defaults (a client's config overrides each one it sets).
    min_silence_ms: int = Field(default=500, ge=0)
    min_speech_ms: int = Field(default=150, ge=0)
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    max_utterance_ms: int = Field(default=30_000, ge=1_000)
    speech_pad_ms: int = Field(default=200, ge=0)

    # End of turn (issue 19). "smart_turn": after turn_pause_ms of silence the Smart Turn
    # model (from the pipecat-ai wheel, or the ONNX file turn_model names) and the words so
    # far judge whether the student has finished; if so the utterance ends there, else it
    # waits up to turn_max_silence_ms of silence. "silence": min_silence_ms of silence ends
    # every utterance. With smart_turn, min_silence_ms still applies to pauses the model could
    # not judge because every turn_threads slot was busy.
    # The default stays "silence" for now: Smart Turn misjudges espeak-ng's formant speech
    # (about 40% of complete espeak questions score under 0.5, against none of the same
    # questions in a neural voice), and espeak is what the tests and the load harness speak.
    end_of_turn: EndOfTurnMode = "silence"
    turn_pause_ms: int = Field(default=160, ge=32, le=2_000)
    turn_max_silence_ms: int = Field(default=2_500, ge=100, le=10_000)
    # A pause that only the model finds unfinished (the words so far end like a sentence)
    # waits this long, at most turn_max_silence_ms: the words hold real thinking pauses
    # ("... the difference between"), while the model's doubts about finished questions in a
    # neural voice (p < 0.5 on some takes of "why is the sky blue") cost the whole limit.
    turn_model_hold_ms: int = Field(default=1_000, ge=100, le=10_000)
    turn_threshold: float = Field(default=0.5, gt=0, lt=1)
    # The model also hears a pause after turn_early_ms (0: never), beside the stream; when it
    # is at least turn_early_threshold sure the turn is complete, the pause ends the turn
    # without waiting ~50 ms for its own judgement.
    turn_early_ms: int = Field(default=96, ge=0, le=2_000)
    turn_early_threshold: float = Field(default=EARLY_THRESHOLD, gt=0, le=1)
    turn_model: str = ""
    turn_threads: int = Field(default=2, ge=1, le=16)

    # Interim results: incremental engines (pocketsphinx) at most every interim_interval_ms
    # of audio; re-decoding engines (faster-whisper) every redecode_interval_ms, one at a time
    # per stream, and only while a worker is free.
    interim_interval_ms: int = Field(default=200, ge=0)
    redecode_interval_ms: int = Field(default=1000, ge=100)

    # llm_svc, which owns tutors' knowledge bases: a stream whose config names one is
    # recognized with the tutor's own language model. Empty: every tutor gets the general model.
    llm_address: str = "127.0.0.1:50053"
    knowledge_timeout_s: float = Field(default=2.0, gt=0)

    # pocketsphinx: decoders kept for reuse after their streams end (a general-model decoder
    # takes ~0.5 s and ~90 MB to build).
    idle_decoders: int = Field(default=4, ge=0)
    # pocketsphinx: a tutor's doubtful final transcript is decoded again with the general
    # model, which wins when it fits better (questions off the tutor's topics; issue 15).
    # Costs a second decode of some finals (12-19% of the dev set's questions, ~0.08 s per
    # second of speech) after they end.
    off_topic_fallback: bool = True
    # pocketsphinx: the general model's decoder (tutors without documents) runs its flat second
    # search pass at each utterance's end: ~50 ms more per final transcript, no fewer errors
    # on general questions (engines.pocketsphinx.GENERAL_SEARCH). Off: one pass, as tutors'.
    general_two_pass: bool = False
    # pocketsphinx: a tutor's streams also decode with its question model (the questions its
    # documents make), whose transcript competes for the final one (issue 15). Off by
    # default: held-out on-topic WER 0.336/0.383 -> 0.289/0.289 (clean/noisy), but ~45% more
    # CPU (RTF over 0.1) and off-topic 0.441/0.441 -> 0.471/0.559. Off, the question model
    # still gives doubtful finals its second opinion (question_opinion).
    question_model: bool = False
    # pocketsphinx: a tutor's final under 0.65 confidence whose words read as its material is
    # decoded again, after the utterance, with the question model (26-49% of the spoken set's
    # finals; held-out on-topic WER 0.336/0.383 -> 0.297/0.328 at RTF <= 0.1). Costs the final
    # ~80 ms at p50 (p90 ~250 ms) on those utterances.
    question_opinion: bool = True
    # pocketsphinx: a tutor's finals are chosen by a small Whisper model (tiny.en) among the
    # tutor's and question model's most likely transcripts and its own, prompted with the
    # tutor's key terms (issue 15; engines.whisper_rescoring): held-out on-topic WER
    # 0.266/0.367 -> 0.148/0.188 clean/noisy (0.164/0.172 in another install: the split has
    # 128 on-topic words), off-topic 0.588/0.471 -> 0.088/0.265, for ~0.07 RTF of Whisper
    # (~95 ms at the final). "auto": the model the asr extra installs, if installed; a
    # directory: that CTranslate2 Whisper model (English-only); "off": pocketsphinx alone.
    # With it, the question model streams (question_model) and neither second opinion is
    # needed.
    rescore_model: str = "auto"
    # pocketsphinx, with Whisper's rescoring: Moonshine tiny scores the likeliest candidates
    # again as a second acoustic judge (engines.moonshine_scoring; word errors of the dev, fit
    # and held-out splits 344 -> 298), for ~45 ms more at the final. "auto": the model `make
    # install` puts in the venv, if there; a directory with its three files; "off": Whisper
    # alone.
    moonshine_model: str = "auto"

    @property
    def endpointing(self) -> EndpointingOptions:
        """The endpointing defaults as options."""
        return EndpointingOptions(
            min_silence_ms=self.min_silence_ms,
            min_speech_ms=self.min_speech_ms,
            vad_threshold=self.vad_threshold,
            max_utterance_ms=min(self.max_utterance_ms, self.max_utterance_limit_ms),
            speech_pad_ms=self.speech_pad_ms,
            end_of_turn=self.end_of_turn,
            turn_pause_ms=self.turn_pause_ms,
            turn_early_ms=self.turn_early_ms,
            turn_max_silence_ms=max(self.turn_max_silence_ms, self.turn_pause_ms),
            turn_model_hold_ms=self.turn_model_hold_ms,
        )
