#!/usr/bin/env bash
# Builds one image per service from deploy/docker/Dockerfile. Run from the repository root:
#   deploy/docker/build-images.sh [TAG]
# Each line: package, pip extra, Debian packages, port, extra pip packages, health address.
set -euo pipefail
tag=${1:-latest}
registry=${REGISTRY:-vtutor}
while IFS='|' read -r package extra apt port pip_extra health; do
  [ -n "$package" ] || continue
  docker build -f deploy/docker/Dockerfile \
    --build-arg PACKAGE="$package" --build-arg EXTRA="$extra" \
    --build-arg APT_PACKAGES="$apt" --build-arg PORT="$port" --build-arg PIP_EXTRA="$pip_extra" \
    --build-arg HEALTHCHECK_ADDRESS="${health:-127.0.0.1:$port}" \
    -t "$registry/$package:$tag" .
done <<'SERVICES'
asr_svc|asr|espeak-ng|50052|nvidia-cublas-cu12 nvidia-cudnn-cu12==9.*|
llm_svc|llm||50053|
tts_svc|tts|libespeak-ng1|50054|
lipsync_svc|lipsync-wav2lip|libgomp1|50055|
gateway|gateway||50051|
rtc_edge|rtc||8080||http://127.0.0.1:8080/health
web_backend|web||8000||http://127.0.0.1:8000/health
SERVICES
