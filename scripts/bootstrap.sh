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
log "ready"
