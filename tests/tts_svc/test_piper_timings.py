"""How the piper engine times words and mouth shapes from phoneme durations, and the engine
registry (no model loaded)."""

from __future__ import annotations

import pytest

from svc_core.server import StartupError
from tts_svc.config import TtsSettings
from tts_svc.engines import create_engine
from tts_svc.engines.base import Viseme
from tts_svc.engines.piper import decode_windows, viseme_spans
from tts_svc.languages import language_of_voice
from tts_svc.piper_voice import TimedPhoneme
from tts_svc.visemes import viseme_for_ipa
from tts_svc.word_alignment import TimedSound, align_words, written_words

pytestmark = pytest.mark.unit


def sounds_of(spoken: str, ms_per_sound: float = 10.0) -> list[TimedSound]:
    """Timed sounds of an IPA string; a space is a 50 ms pause."""
    sounds, now = [], 0.0
    for symbol in spoken:
        if symbol == " ":
            now += 50
            continue
        sounds.append(TimedSound(symbol, now, now + ms_per_sound))
        now += ms_per_sound
    return sounds


def test_words_spoken_together_each_get_their_own_sounds() -> None:
    # espeak runs "of the" into one spoken word; alone they are "ʌv" and "ðə".
    timings = align_words(["of", "the", "cake"], ["ʌv", "ðə", "keɪk"], sounds_of("ʌvðə keɪk"))
    assert [(t.word, t.start_ms, t.end_ms) for t in timings] == [
        ("of", 0, 20),
        ("the", 20, 40),
        ("cake", 90, 130),
    ]


def test_a_word_spoken_as_several_spans_all_of_them() -> None:
    timings = align_words(
        ["costs", "3.14", "dollars"],
        ["kɔsts", "θɹiːpɔɪntwʌnfɔːɹ".replace("ː", ""), "dɑlɚz"],
        sounds_of("kɔsts θɹi pɔɪnt wʌn fɔɹ dɑlɚz"),
    )
    costs, number, dollars = timings
    assert number.start_ms == costs.end_ms + 50
    assert number.end_ms == dollars.start_ms - 50
    assert number.end_ms - number.start_ms > 100


def test_unmatched_words_share_the_gap_between_their_neighbours() -> None:
    # "a" alone is "eɪ" (the letter), in the sentence "ɐ": nothing matches it.
    timings = align_words(["in", "a", "box"], ["ɪn", "eɪ", "bɑks"], sounds_of("ɪn ɐ bɑks"))
    assert [(t.word, t.start_ms, t.end_ms) for t in timings] == [
        ("in", 0, 20),
        ("a", 20, 130),  # its "ɐ" sounds at 70-80, between two pauses
        ("box", 130, 170),
    ]


def test_starts_never_go_back_and_nothing_is_lost() -> None:
    timings = align_words(["x", "y", "z"], ["ab", "", "ab"], sounds_of("ab"))
    assert [t.word for t in timings] == ["x", "y", "z"]
    starts = [t.start_ms for t in timings]
    assert starts == sorted(starts)
    assert all(t.end_ms >= t.start_ms for t in timings)
    assert align_words([], [], []) == []


def test_written_words_drop_punctuation() -> None:
    words = written_words('Well, "3.14" is — roughly — pi!')
    assert words == ["Well", "3.14", "is", "roughly", "pi"]


@pytest.mark.parametrize(
    ("symbol", "viseme"),
    [
        ("p", Viseme.PP), ("m", Viseme.PP), ("f", Viseme.FF), ("θ", Viseme.TH),
        ("ð", Viseme.TH), ("t", Viseme.DD), ("ɾ", Viseme.DD), ("k", Viseme.KK),
        ("ŋ", Viseme.KK), ("ʃ", Viseme.CH), ("s", Viseme.SS), ("n", Viseme.NN),
        ("ɹ", Viseme.RR), ("ɚ", Viseme.RR), ("æ", Viseme.AA), ("ə", Viseme.E),
        ("ɪ", Viseme.IH), ("ᵻ", Viseme.IH), ("ɔ", Viseme.OH), ("ʊ", Viseme.OU),
        ("w", Viseme.OU), (",", Viseme.SIL), (".", Viseme.SIL),
    ],
)  # fmt: skip
def test_ipa_symbols_map_to_visemes(symbol: str, viseme: Viseme) -> None:
    assert viseme_for_ipa(symbol) == viseme


@pytest.mark.parametrize("symbol", ["ˈ", "ˌ", "ː", " ", "\u0329", ""])
def test_marks_and_spaces_are_not_sounds(symbol: str) -> None:
    assert viseme_for_ipa(symbol) is None


def test_viseme_spans_cover_the_segment() -> None:
    phonemes = [
        TimedPhoneme("b", 2, 4),
        TimedPhoneme("ˈ", 4, 4),
        TimedPhoneme("ɑ", 4, 8),
        TimedPhoneme("ː", 8, 9),
        TimedPhoneme("m", 9, 10),
        TimedPhoneme("p", 10, 11),
        TimedPhoneme(".", 11, 13),
    ]
    spans = viseme_spans(phonemes, 15, 10.0)
    assert [(s.viseme, s.start_ms, s.end_ms) for s in spans] == [
        (Viseme.SIL, 0, 20),
        (Viseme.PP, 20, 40),
        (Viseme.AA, 40, 90),  # the length mark holds the vowel
        (Viseme.PP, 90, 110),  # "m" and "p" merge
        (Viseme.SIL, 110, 150),  # the full stop and the tail
    ]


def test_decode_windows_grow_and_cover_every_frame() -> None:
    assert list(decode_windows(10, 16)) == [(0, 10)]
    windows = list(decode_windows(1000, 16))
    assert windows[:4] == [(0, 16), (16, 48), (48, 112), (112, 240)]
    assert all(end - start <= 128 for start, end in windows[:-1])
    assert [s for s, _ in windows[1:]] == [e for _, e in windows[:-1]]
    assert windows[-1][1] == 1000
    assert windows[-1][1] - windows[-1][0] >= 8  # no sliver at the end


@pytest.mark.parametrize(
    ("voice", "language"),
    [("en_US-joe-medium", "en-US"), ("en-GB-RyanNeural", "en-GB"), ("en-us", ""), ("", "")],
)
def test_language_of_a_voice_name(voice: str, language: str) -> None:
    assert language_of_voice(voice) == language


def test_unknown_engine_is_a_startup_error() -> None:
    with pytest.raises(StartupError, match=r"unknown TTS engine 'nope'.*piper, espeak, edge"):
        create_engine(TtsSettings(), "nope")
    assert create_engine(TtsSettings()).name == "piper"  # the default, built but not loaded
