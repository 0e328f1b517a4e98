"""``python -m model_fetch {whisper,wav2lip,ollama,all}``: fetch the production models.

By default the files land where docker-compose.yml mounts them (``./models/whisper`` and
``./models/wav2lip.pth``); a repeated run checks what is there and fetches only what is
missing or incomplete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from model_fetch import hf_hub, ollama_pull
from model_fetch.download import FetchError

DEFAULT_WHISPER_REPO = "Systran/faster-whisper-small"
# The original Wav2Lip GAN weights, as mirrored on the hub (the authors' own links are not
# stable); the engine loads original checkpoints.
DEFAULT_WAV2LIP = "camenduru/Wav2Lip:checkpoints/wav2lip_gan.pth"
DEFAULT_OLLAMA_MODEL = "llama3.2:3b"
# Hub files a model directory does not need.
SKIPPED_FILES = (".gitattributes", "README.md")


def fetch_whisper(client: httpx.Client, repo: str, revision: str, target_dir: Path) -> None:
    files = [f for f in hf_hub.list_files(client, repo, revision) if f.path not in SKIPPED_FILES]
    if not any(f.path == "model.bin" for f in files):
        raise FetchError(f"{repo} has no model.bin: it is not a faster-whisper (CTranslate2) model")
    for file in files:
        result = hf_hub.fetch_file(client, repo, revision, file, target_dir / file.path)
        print(f"{repo}/{file.path}: {result}")


def fetch_wav2lip(client: httpx.Client, spec: str, revision: str, target: Path) -> None:
    repo, _, path = spec.partition(":")
    if not path:
        raise FetchError(f"--wav2lip must be REPO:FILE, got {spec!r}")
    listed = {f.path: f for f in hf_hub.list_files(client, repo, revision)}
    if path not in listed:
        raise FetchError(f"{repo} has no file {path!r} at revision {revision!r}")
    print(f"{spec}: {hf_hub.fetch_file(client, repo, revision, listed[path], target)}")


def fetch_ollama(client: httpx.Client, host: str, model: str) -> None:
    print(f"ollama {model}: {ollama_pull.pull(client, host, model)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_fetch", description=__doc__)
    parser.add_argument("what", choices=["whisper", "wav2lip", "ollama", "all"])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--whisper-repo", default=DEFAULT_WHISPER_REPO)
    parser.add_argument("--wav2lip", default=DEFAULT_WAV2LIP, help="hub REPO:FILE")
    parser.add_argument("--revision", default="main", help="hub revision (branch, tag, commit)")
    parser.add_argument("--ollama-host", default="http://127.0.0.1:11434")
    parser.add_argument("--ollama-model", default=DEFAULT_OLLAMA_MODEL)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per network read")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    steps = ["whisper", "wav2lip", "ollama"] if args.what == "all" else [args.what]
    failed = []
    with httpx.Client(timeout=httpx.Timeout(args.timeout, connect=10.0)) as client:
        for step in steps:
            try:
                if step == "whisper":
                    target_dir = args.models_dir / "whisper"
                    fetch_whisper(client, args.whisper_repo, args.revision, target_dir)
                elif step == "wav2lip":
                    target = args.models_dir / "wav2lip.pth"
                    fetch_wav2lip(client, args.wav2lip, args.revision, target)
                else:
                    fetch_ollama(client, args.ollama_host, args.ollama_model)
            except (FetchError, httpx.HTTPError) as exc:
                print(f"error: {step}: {exc}", file=sys.stderr)
                failed.append(step)
    if failed:
        print(f"failed: {', '.join(failed)} (run the command again to resume)", file=sys.stderr)
        return 1
    return 0
