"""The harness's own logic: SLO files, percentiles, the playback model, utterance trimming."""

from __future__ import annotations

import json

import pytest

from loadtest.cli import end_of_turn, parser
from loadtest.config import LoadTestConfig
from loadtest.report import collect_values, frame_rate_timeline, percentiles
from loadtest.samples import MediaLog, TurnSample
from loadtest.slo import Slo
from loadtest.utterances import default_voice, load_utterances, load_wav, trim_silence
from tests.support.speech import silence_pcm, tone_pcm, write_wav

pytestmark = pytest.mark.unit


def _report(p50: float, p95: float, error_rate: float = 0.0, fps: float = 25.0) -> dict:
    return {
        "latency_ms": {"eos_to_first_frame": {"p50": p50, "p95": p95, "n": 10}},
        "errors": {"rate": error_rate},
        "frame_rate_fps": {"p50": fps},
    }


def test_slo_is_met_or_missed_by_threshold() -> None:
    slo = Slo.parse(
        {
            "stages": {"eos_to_first_frame": {"p50": 800, "p95": 1500}},
            "error_rate": 0.01,
            "min_frame_rate_fps": 20,
        }
    )
    assert slo.check(_report(700, 1400)) == []
    misses = slo.check(_report(900, 1400, error_rate=0.5, fps=12))
    assert len(misses) == 3
    assert misses[0] == "eos_to_first_frame p50: 900 ms > 800 ms"


def test_a_stage_the_run_never_measured_is_a_miss() -> None:
    slo = Slo.parse({"stages": {"barge_in_stop": {"p95": 500}}})
    assert slo.check(_report(1, 1)) == ["barge_in_stop p95: not measured (limit 500 ms)"]


def test_slo_files_load_from_yaml_and_json(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("stages:\n  eos_to_first_token: {p99: 900}\n")
    (tmp_path / "b.json").write_text(json.dumps({"error_rate": 0.1}))
    assert Slo.load(tmp_path / "a.yaml").stages == {"eos_to_first_token": {"p99": 900.0}}
    assert Slo.load(tmp_path / "b.json").error_rate == 0.1


@pytest.mark.parametrize(
    "data",
    [
        {"stages": {"x": {"p42": 1}}},
        {"stages": {"x": {"p50": "fast"}}},
        {"latency": {}},
        {"error_rate": True},
        [1, 2],
    ],
)
def test_bad_slo_files_are_refused(data) -> None:
    with pytest.raises(ValueError):
        Slo.parse(data)


def test_percentiles() -> None:
    stats = percentiles([float(x) for x in range(1, 101)])
    assert stats["p50"] == 50.5 and stats["max"] == 100 and stats["n"] == 100
    assert stats["p90"] < stats["p95"] < stats["p99"] < stats["max"]
    assert percentiles([]) == {"n": 0}


def test_playback_model_turns_a_late_frame_into_a_gap() -> None:
    steady = MediaLog()
    for i in range(26):
        steady.add_frame(10 + i * 0.04, i * 40_000, i * 40_000, 640, 16000)
    assert steady.frame_rate_fps() == pytest.approx(25.0)
    assert steady.max_gap_ms() == pytest.approx(40.0)
    assert max(steady.av_offsets_ms) == 0
    # Everything sent at once (the gateway's lead) still plays at 25 fps.
    burst = MediaLog()
    for i in range(26):
        burst.add_frame(10.0, i * 40_000, i * 40_000, 640, 16000)
    assert burst.frame_rate_fps() == pytest.approx(25.0)
    # Frame 10 arrives half a second late: the picture freezes.
    late = MediaLog()
    for i in range(26):
        late.add_frame(10 + i * 0.04 + (0.5 if i == 10 else 0), i * 40_000, i * 40_000, 640, 16000)
    assert late.max_gap_ms() == pytest.approx(540.0)
    # Frames due during the freeze show the moment it ends (the player catches up).
    assert late.display_times()[10:14] == [pytest.approx(10.9)] * 4


def test_frames_carrying_too_little_audio_show_as_av_offset() -> None:
    media = MediaLog()
    for i in range(10):
        media.add_frame(float(i), i * 40_000, i * 40_000, 600, 16000)  # 37.5 ms of 40
    assert max(media.av_offsets_ms) == pytest.approx(9 * 2.5)


def test_frame_rate_timeline_is_per_answer_playing() -> None:
    sample = TurnSample(0, 0, "q")
    for i in range(64):  # two seconds at 32 fps (exact in binary), starting mid-bucket
        sample.media.add_frame(100.5 + i / 32, i * 31_250, i * 31_250, 500, 16000)
    timeline = frame_rate_timeline([sample], origin=100.0, fps=32)
    assert [p["t_s"] for p in timeline] == [0.0, 1.0, 2.0]
    assert [p["fps_per_stream"] for p in timeline] == [32.0, 32.0, 32.0]
    assert [p["streams"] for p in timeline] == [0.5, 1.0, 0.5]


def test_trim_silence_and_wav_loading(tmp_path) -> None:
    speech = tone_pcm(440, 300, sample_rate=16000)
    padded = silence_pcm(200) + speech + silence_pcm(500)
    assert abs(len(trim_silence(padded)) - len(speech)) <= 2 * 160
    write_wav(tmp_path / "hello.wav", padded, sample_rate=16000)
    (tmp_path / "hello.txt").write_text("hello there\n")
    utterance = load_wav(tmp_path / "hello.wav")
    assert utterance.text == "hello there"
    assert utterance.duration_s == pytest.approx(0.3, abs=0.02)


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        LoadTestConfig(students=0)
    with pytest.raises(ValueError):
        LoadTestConfig(duration_s=5, ramp_up_s=10)
    with pytest.raises(ValueError):
        LoadTestConfig(video_size=63)


def test_the_spawned_asr_ends_turns_by_the_rule_that_suits_the_voice(monkeypatch) -> None:
    monkeypatch.delenv("ASR_END_OF_TURN", raising=False)

    def rule(*argv: str, voice: str) -> str:
        return end_of_turn(parser().parse_args(["--spawn-stack", *argv]), voice)

    # Smart Turn misjudges espeak-ng's formant speech as unfinished; people and Piper it hears.
    assert rule(voice="piper") == "smart_turn"
    assert rule(voice="espeak") == "silence"
    assert rule("--utterance", "recorded.wav", voice="espeak") == "smart_turn"
    assert rule("--end-of-turn", "silence", voice="piper") == "silence"
    monkeypatch.setenv("ASR_END_OF_TURN", "silence")
    assert rule(voice="piper") == "silence"


def test_default_questions_are_spoken_in_the_chosen_voice() -> None:
    if default_voice() != "piper":
        pytest.skip("piper-tts is not installed")
    (espeak, *_) = load_utterances([], "espeak")
    (piper, *_) = load_utterances([], "piper")
    assert espeak.text == piper.text != ""
    # Different speakers, each trimmed to its speech.
    assert espeak.pcm != piper.pcm
    for utterance in (espeak, piper):
        assert trim_silence(utterance.pcm) == utterance.pcm and utterance.duration_s > 0.5


def test_webrtc_students_report_the_gateway_stages_the_edge_passes_on() -> None:
    from loadtest.webrtc_student import _gateway_stages

    stages = _gateway_stages({"final_transcript": 150.0, "first_frame": 450, "bad": "x"})
    assert stages == {"eos_to_final_transcript": 150.0, "eos_to_first_frame": 450.0}
    assert _gateway_stages(None) == {}


def test_the_edge_times_split_a_turn_into_hops() -> None:
    sample = TurnSample(0, 0, "q", speech_end=10.0)
    sample.final_transcript_at = 10.9
    sample.first_frame_at = 11.3
    sample.gateway_ms = {"eos_to_final_transcript": 500.0}
    sample.edge_at = {
        "speech_forwarded": 10.05,
        "final_read": 10.75,
        "final_sent": 10.8,
        "first_frame_read": 11.0,
        "first_frame_playing": 11.25,
    }
    hops = {name: round(ms, 3) for name, ms in sample.hop_ms().items()}
    assert hops == {
        "hop.uplink": 50.0,
        "hop.edge_to_final": 700.0,
        "hop.gateway_links": 200.0,
        "hop.final_in_edge": 50.0,
        "hop.final_downlink": 100.0,
        "hop.frame_in_edge": 250.0,
        "hop.frame_downlink": 50.0,
    }
    assert sample.to_json(0.0)["hop_ms"]["hop.uplink"] == 50.0
    # Only hops whose both ends are known (a gRPC student has no edge times).
    sample.edge_at = {"final_sent": 10.8}
    assert sample.hop_ms() == {"hop.final_downlink": pytest.approx(100.0)}
    assert "hop.final_downlink" in collect_values([sample])


def test_webrtc_students_keep_the_edge_times_that_are_numbers() -> None:
    from loadtest.webrtc_student import _edge_times

    assert _edge_times({"final_read": 1.5, "final_sent": 2, "bad": "x"}) == {
        "final_read": 1.5,
        "final_sent": 2.0,
    }
    assert _edge_times(None) == {}
