#!/usr/bin/env bash
# Sets up a fresh machine for Virtual Tutor: Debian packages, the Python venv, npm tooling.
# Safe to run again: each step is skipped when what it would install is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the services and tests use (speech synthesis, audio tools, TURN, browser,
# database). Add new ones here.
APT_PACKAGES=(espeak-ng libespeak-ng1 sox coturn redis-server chromium postgresql docker-compose)

log() { printf '[bootstrap] %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list changed.
stamp=".venv/.installed-$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing Python packages (first run takes a few minutes)"
  .venv/bin/pip install -q --upgrade pip
  # torch first, pinned: any other request pulls the registry's multi-GB CUDA build.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[dev]"
  # asr_svc's end-of-turn model is a file inside the pipecat-ai wheel; pipecat's own
  # dependencies (protobuf<7, numba, openai, ...) would break ours, so without them.
  .venv/bin/pip install -q --no-deps "pipecat-ai==1.14.0"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ ! -d node_modules/@bufbuild/buf ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm tooling"
  # `npm ci` installs exactly what the lock says and never writes it, so a fresh clone stays
  # clean (issue 21, item 10). The lock lists every platform's optional buf binary: with only
  # Linux's, `npm install` added the others and rewrote it.
  npm ci --no-audit --no-fund --loglevel=error
fi
# asr_svc's second judge of tutors' transcripts (asr_svc.engines.moonshine_scoring):
# Moonshine tiny (MIT). Only npm's @moonshine-ai/moonshine-js carries its ONNX weights, and
# PyPI's useful-moonshine-onnx its tokenizer; the three files are taken from the two archives,
# checked against these digests, without either package's dependencies (the npm package's
# pull in transformers.js and an onnxruntime that downloads its binaries at install).
MOONSHINE=.venv/share/moonshine-tiny
MOONSHINE_NPM="@moonshine-ai/moonshine-js@0.1.29"
MOONSHINE_NPM_SHA256=864e17a00ed494857c71693e835306fa038e0f82002c76e3056d67d574e1c2d8
MOONSHINE_PYPI="useful-moonshine-onnx==20251121"
MOONSHINE_PYPI_SHA256=b4189b0d7dc8064d567fd0b5d5ce78634be290b0a3a3274ab80ad11c46d531a2
if [ ! -f "$MOONSHINE/tokenizer.json" ]; then
  log "fetching the Moonshine tiny model (npm $MOONSHINE_NPM, PyPI $MOONSHINE_PYPI; 22 MB)"
  work=$(mktemp -d)
  venv_python="$PWD/.venv/bin/python"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --loglevel=error "$MOONSHINE_NPM" >/dev/null)
  .venv/bin/pip download -q --no-deps --dest "$work" "$MOONSHINE_PYPI"
  (
    cd "$work"
    printf '%s  %s\n' "$MOONSHINE_NPM_SHA256" moonshine-ai-moonshine-js-0.1.29.tgz \
      "$MOONSHINE_PYPI_SHA256" useful_moonshine_onnx-20251121-py3-none-any.whl | sha256sum -c --quiet
    tar -xzf moonshine-ai-moonshine-js-0.1.29.tgz package/dist/model/tiny/quantized
    "$venv_python" -m zipfile -e useful_moonshine_onnx-20251121-py3-none-any.whl .
    mkdir model
    mv package/dist/model/tiny/quantized/*.onnx moonshine_onnx/assets/tokenizer.json model/
  )
  mkdir -p "$(dirname "$MOONSHINE")"
  rm -rf "$MOONSHINE"
  mv "$work/model" "$MOONSHINE"  # whole or not at all: a failed fetch is retried next run
  rm -rf "$work"
  trap - EXIT
fi
log "ready"
