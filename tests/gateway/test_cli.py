"""``python -m gateway`` and ``python -m gateway.cli talk`` as real processes over all upstreams."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import av
import pytest

from tests.gateway.conftest import API_KEY
from tests.support.service_process import REPO_ROOT, ServiceProcess
from tests.support.speech import espeak_pcm, write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def gateway_process(
    asr_service, llm_service, tts_service, lipsync_service
) -> Iterator[ServiceProcess]:
    """``python -m gateway`` on a free port, wired to the shared upstream processes."""
    env = {
        "GATEWAY_API_KEY": API_KEY,
        "GATEWAY_ASR_ADDRESS": asr_service.address,
        "GATEWAY_LLM_ADDRESS": llm_service.address,
        "GATEWAY_TTS_ADDRESS": tts_service.address,
        "GATEWAY_LIPSYNC_ADDRESS": lipsync_service.address,
    }
    service = ServiceProcess("gateway", env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def test_gateway_refuses_to_start_without_an_api_key():
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway"],
        cwd=REPO_ROOT,
        env={**env, "GATEWAY_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "GATEWAY_API_KEY" in done.stderr + done.stdout


def test_talk_writes_an_mp4_of_the_spoken_answer(gateway_process, tmp_path):
    wav = write_wav(tmp_path / "question.wav", espeak_pcm("what is the water cycle"))
    out = tmp_path / "answer.mp4"
    done = subprocess.run(
        [
            sys.executable, "-m", "gateway.cli", "talk",
            "--address", gateway_process.address,
            "--wav", str(wav), "--out", str(out), "--size", "128",
            "--hint", "what is the water cycle",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "GATEWAY_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    lines = done.stdout.strip().splitlines()
    assert "water cycle" in lines[0]
    assert lines[1].startswith("tutor: ") and "evaporat" in lines[1].lower()
    assert lines[-1].startswith("latency: transcript ")
    assert "first frame" in lines[-1] and " - " not in lines[-1]
    with av.open(str(out)) as container:
        kinds = {stream.type: stream for stream in container.streams}
        assert set(kinds) == {"video", "audio"}
        assert kinds["video"].codec_context.width == 128
        assert kinds["video"].frames > 25
        assert kinds["audio"].codec_context.name == "aac"
