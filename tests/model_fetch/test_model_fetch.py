"""``python -m model_fetch`` against a stand-in hub and the Ollama double: downloads land where
compose mounts them, resume with a Range request, refuse a bad checksum, pull through Ollama."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterator

import pytest

from model_fetch.cli import main
from tests.model_fetch.hub_standin import HubStandIn
from tests.support.fake_ollama import FakeOllamaServer

pytestmark = pytest.mark.integration

WHISPER = {
    "model.bin": os.urandom(300_000),
    "config.json": b'{"alignment_heads": []}',
    "tokenizer.json": os.urandom(5_000),
    "vocabulary.txt": b"hello\nworld\n",
    "README.md": b"# a model card",
}
WAV2LIP = {"checkpoints/wav2lip_gan.pth": os.urandom(200_000)}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStandIn]:
    repos = {"org/whisper-small": dict(WHISPER), "org/wav2lip": dict(WAV2LIP)}
    with HubStandIn(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _whisper(tmp_path, *extra: str) -> int:
    return main(
        ["whisper", "--models-dir", str(tmp_path), "--whisper-repo", "org/whisper-small", *extra]
    )


def test_whisper_lands_where_compose_mounts_it_and_a_second_run_fetches_nothing(hub, tmp_path):
    assert _whisper(tmp_path) == 0
    target = tmp_path / "whisper"
    assert sorted(p.name for p in target.iterdir()) == sorted(set(WHISPER) - {"README.md"})
    for name, data in WHISPER.items():
        if name != "README.md":
            assert (target / name).read_bytes() == data
    fetched = len(hub.requests)
    assert _whisper(tmp_path) == 0
    assert len(hub.requests) == fetched


def test_an_interrupted_download_resumes_with_a_range_request(hub, tmp_path, capsys):
    hub.drop_after["model.bin"] = 100_000
    assert _whisper(tmp_path) == 1
    assert "run the command again" in capsys.readouterr().err
    part = tmp_path / "whisper" / "model.bin.part"
    assert part.stat().st_size == 100_000
    assert not (tmp_path / "whisper" / "model.bin").exists()

    assert _whisper(tmp_path) == 0
    assert ("model.bin", "bytes=100000-") in hub.requests
    data = (tmp_path / "whisper" / "model.bin").read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(WHISPER["model.bin"]).digest()
    assert not part.exists()
    assert "resumed, checksum ok" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["model.bin", "vocabulary.txt"])  # sha256 (LFS) and git blob id
def test_a_file_not_matching_its_checksum_is_refused_and_removed(hub, tmp_path, capsys, name):
    hub.corrupt.add(name)
    assert _whisper(tmp_path) == 1
    err = capsys.readouterr().err
    assert "does not match" in err and name in err
    assert not (tmp_path / "whisper" / name).exists()
    assert not (tmp_path / "whisper" / f"{name}.part").exists()


def test_an_unknown_repository_is_a_clear_error(hub, tmp_path, capsys):
    assert main(["whisper", "--models-dir", str(tmp_path), "--whisper-repo", "org/nope"]) == 1
    assert "no model repository 'org/nope'" in capsys.readouterr().err


def test_wav2lip_checkpoint_lands_at_the_mounted_path(hub, tmp_path, capsys):
    spec = "org/wav2lip:checkpoints/wav2lip_gan.pth"
    assert main(["wav2lip", "--models-dir", str(tmp_path), "--wav2lip", spec]) == 0
    assert (tmp_path / "wav2lip.pth").read_bytes() == WAV2LIP["checkpoints/wav2lip_gan.pth"]
    assert main(["wav2lip", "--models-dir", str(tmp_path), "--wav2lip", "org/wav2lip:x.pth"]) == 1
    assert "has no file 'x.pth'" in capsys.readouterr().err


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeOllamaServer(models=[])
    server.pullable = ["llama3.2:3b"]
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_ollama_model_is_pulled_through_the_pull_api(ollama, tmp_path, capsys):
    assert main(["ollama", "--ollama-host", ollama.url, "--ollama-model", "llama3.2:3b"]) == 0
    assert "ollama llama3.2:3b: pulled" in capsys.readouterr().out
    assert "llama3.2:3b" in [m.name for m in ollama.models]


def test_an_unknown_ollama_model_reports_ollamas_error(ollama, capsys):
    assert main(["ollama", "--ollama-host", ollama.url, "--ollama-model", "nope:1b"]) == 1
    assert "file does not exist" in capsys.readouterr().err


def test_an_unreachable_ollama_is_a_clear_error(capsys):
    assert main(["ollama", "--ollama-host", "http://127.0.0.1:9", "--timeout", "2"]) == 1
    assert "cannot reach Ollama at http://127.0.0.1:9" in capsys.readouterr().err
