"""The embedded default engine: espeak-ng through libespeak-ng (no downloads, no network).

PCM comes from the synth callback as it is produced (first audio within about a millisecond);
word and phoneme events carry sample positions, which become word timings and visemes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
from collections.abc import AsyncGenerator

from svc_core.errors import NotFound, Unavailable
from svc_core.server import StartupError
from tts_svc.config import TtsSettings
from tts_svc.engines.base import (
    EngineCapabilities,
    EngineLoadError,
    SpeechAudio,
    SpeechEvent,
    TtsEngine,
    VisemeSpan,
    VoiceInfo,
    VoiceSettings,
    WordSpan,
)
from tts_svc.libespeak import (
    EspeakRuntime,
    EspeakUnavailable,
    EspeakVoice,
    PhonemeEvent,
    SynthJob,
    WordEvent,
    espeak_runtime,
    post_to_loop,
    words_per_minute,
)
from tts_svc.visemes import viseme_for_phoneme

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "en-us"
_GENDERS = {1: "male", 2: "female"}
# Characters trimmed from a word as written ("world," -> "world").
_WORD_TRIM = string.punctuation + "“”‘’«»…—–"
_TOKEN = re.compile(r"\S+")
_DONE = object()


class EspeakEngine(TtsEngine):
    """espeak-ng voices; every stream of the process shares the one ``EspeakRuntime``."""

    name = "espeak"
    capabilities = EngineCapabilities(
        streaming_audio=True, word_timings=True, visemes=True, remote=False
    )

    def __init__(self, *, default_voice: str = "", runtime: EspeakRuntime | None = None) -> None:
        self._runtime = runtime or espeak_runtime()
        self._default_voice = default_voice or DEFAULT_VOICE
        self._voices: list[VoiceInfo] = []

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> EspeakEngine:
        # TTS_DEFAULT_VOICE names an espeak voice only when espeak is the main engine.
        default_voice = settings.default_voice if settings.engine == "espeak" else ""
        return cls(
            default_voice=default_voice,
            runtime=espeak_runtime(buffer_ms=settings.espeak_buffer_ms),
        )

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self._runtime.start)
        except EspeakUnavailable as exc:
            raise EngineLoadError(str(exc)) from exc
        self._voices = _voice_infos(self._runtime.voices)
        try:
            self._default_voice = await self.resolve_voice(self._default_voice)
        except NotFound as exc:
            raise StartupError(
                f"TTS_DEFAULT_VOICE={self._default_voice!r} is not an espeak voice "
                f"(for example {DEFAULT_VOICE!r}; ListVoices lists them)"
            ) from exc

    @property
    def default_voice(self) -> str:
        return self._default_voice

    @property
    def sample_rate(self) -> int:
        """The library's native output rate (22050 Hz for espeak-ng)."""
        return self._runtime.sample_rate

    async def list_voices(self) -> list[VoiceInfo]:
        return list(self._voices)

    async def resolve_voice(self, name: str, language_code: str = "") -> str:
        # Besides the listed voices espeak takes variants of them ("en-us+f3").
        base, plus, variant = name.partition("+")
        if not plus:
            return await super().resolve_voice(name, language_code)
        if variant not in self._runtime.variants:
            raise NotFound(
                f"unknown espeak voice variant {variant!r} in {name!r} "
                f"(for example {', '.join(sorted(self._runtime.variants)[:5])})"
            )
        return f"{await super().resolve_voice(base)}+{variant}"

    async def synthesize(
        self, text: str, voice: VoiceSettings, *, urgent: bool = True, slack_s: float = 0.0
    ) -> AsyncGenerator[SpeechEvent, None]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[object] = asyncio.Queue()
        rate = self._runtime.sample_rate

        def on_audio(pcm: bytes) -> None:
            post_to_loop(loop, events.put_nowait, SpeechAudio(pcm, rate))

        def on_done(
            words: list[WordEvent],
            phonemes: list[PhonemeEvent],
            samples: int,
            error: BaseException | None,
        ) -> None:
            if error is not None:
                post_to_loop(loop, events.put_nowait, error)
                return
            for item in (
                *word_spans(text, words, phonemes, samples, rate),
                *viseme_spans(phonemes, samples, rate),
            ):
                post_to_loop(loop, events.put_nowait, item)
            post_to_loop(loop, events.put_nowait, _DONE)

        job = SynthJob(
            text=text,
            voice=voice.voice,
            words_per_minute=words_per_minute(voice.speaking_rate),
            on_audio=on_audio,
            on_done=on_done,
        )
        self._runtime.submit(job)
        try:
            while (item := await events.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise Unavailable(f"espeak could not speak the text: {item}") from item
                yield item  # type: ignore[misc]
        finally:
            # Reached on completion, error, or when the consumer stops (cancelled call): the
            # synth callback sees the flag and aborts espeak at its next buffer.
            job.cancelled.set()


def word_spans(
    text: str, words: list[WordEvent], phonemes: list[PhonemeEvent], samples: int, rate: int
) -> list[WordSpan]:
    """Word timings for every written word, from espeak's word events.

    espeak reports where each word starts; a word ends at the first pause after it or where
    the next word starts. It speaks some written words as several ("3.14", "U.S.") and runs
    short unstressed ones into their neighbour without an event of their own ("of a"): such
    a group shares its event's span, split by length.
    """
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    tokens = [(a, b) for a, b in tokens if text[a:b].strip(_WORD_TRIM)]
    if not tokens or not words:
        return []
    groups: list[tuple[int, list[int]]] = []  # (first sample, indexes of its tokens)
    event_index = 0
    for index, (_, token_end) in enumerate(tokens):
        sample = None
        # The events pointing into this token (or into the space before it).
        while event_index < len(words) and words[event_index].text_position - 1 < token_end:
            if sample is None:
                sample = words[event_index].sample
            event_index += 1
        if sample is not None or not groups:
            groups.append((sample if sample is not None else 0, [index]))
        else:
            groups[-1][1].append(index)
    pauses = [p.sample for p in phonemes if p.phoneme.startswith("_")]
    spans = []
    for number, (sample, members) in enumerate(groups):
        begin = min(sample, samples)
        following = groups[number + 1][0] if number + 1 < len(groups) else samples
        end = next((p for p in pauses if begin < p < following), following)
        end = max(begin, min(end, samples))
        lengths = [tokens[i][1] - tokens[i][0] for i in members]
        position = float(begin)
        for index, length in zip(members, lengths, strict=True):
            share = (end - begin) * length / sum(lengths)
            word = text[tokens[index][0] : tokens[index][1]].strip(_WORD_TRIM)
            spans.append(WordSpan(word, position * 1000 / rate, (position + share) * 1000 / rate))
            position += share
    return spans


def viseme_spans(phonemes: list[PhonemeEvent], samples: int, rate: int) -> list[VisemeSpan]:
    """Visemes from phoneme events: each shape lasts until the next one starts."""
    spans: list[VisemeSpan] = []
    for index, event in enumerate(phonemes):
        start = min(event.sample, samples)
        end = min(phonemes[index + 1].sample, samples) if index + 1 < len(phonemes) else samples
        if end <= start:
            continue
        viseme = viseme_for_phoneme(event.phoneme)
        if spans and spans[-1].viseme == viseme and spans[-1].end_ms == start * 1000 / rate:
            spans[-1] = VisemeSpan(viseme, spans[-1].start_ms, end * 1000 / rate)
        else:
            spans.append(VisemeSpan(viseme, start * 1000 / rate, end * 1000 / rate))
    return spans


def _voice_infos(voices: list[EspeakVoice]) -> list[VoiceInfo]:
    infos: dict[str, VoiceInfo] = {}
    for voice in voices:
        if not voice.languages:
            continue
        # The voice file's name ("gmw/en-US" -> "en-us"): what espeak_SetVoiceByName takes.
        name = voice.identifier.rsplit("/", 1)[-1].lower()
        infos.setdefault(
            name,
            VoiceInfo(
                name=name,
                display_name=voice.name,
                language_codes=tuple(_bcp47(code) for code in voice.languages),
                gender=_GENDERS.get(voice.gender, ""),
                engine="espeak",
            ),
        )
    return sorted(infos.values(), key=lambda v: v.name)


def _bcp47(code: str) -> str:
    """espeak's lower-case language codes in BCP-47 case ("en-us" -> "en-US")."""
    parts = code.split("-")
    return "-".join(
        [parts[0], *(p.upper() if len(p) == 2 and i == 0 else p for i, p in enumerate(parts[1:]))]
    )
