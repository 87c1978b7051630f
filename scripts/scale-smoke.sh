#!/usr/bin/env bash
# The stack with replicas on Docker Swarm, deployed on a real Docker engine, then checked from the host.
#   scripts/scale-smoke.sh up     engine, swarm, `docker stack deploy`, checks; the stack keeps running
#   scripts/scale-smoke.sh down   remove the stack (its services, networks and voices volume), leave
#                                 the swarm and stop the Docker engine if this script joined or
#                                 started them (images are kept)
#   scripts/scale-smoke.sh        both
# The stack is deploy/swarm/stack.yml: one gateway, two ASR and two TTS replicas on the images
# scripts/compose-smoke.sh builds (the embedded models; `docker stack deploy` builds nothing), as
# the stack `speech-swarm` beside the Compose project, published on another port. Checks talk only
# to the published gateway, http://127.0.0.1:$SWARM_PORT; scripts/scale_smoke.py has them.
# Settings (environment): DOCKER (the docker client), SWARM_PORT (5149), UP_TIMEOUT_SECONDS (600),
# MODEL_TTL_SECONDS (600), and any other setting the stack file forwards.
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-all}"
case "$action" in up | down | all) ;; *) echo "usage: $0 [up|down]" >&2; exit 2 ;; esac

smoke=scale-smoke
state=var/scale-smoke # what this script created (so `down` undoes only that), logs
mkdir -p "$state"
# shellcheck source=scripts/docker-engine.sh
. scripts/docker-engine.sh
export STACK=speech-swarm STACK_FILE=deploy/swarm/stack.yml
export SWARM_PORT="${SWARM_PORT:-5149}" UP_TIMEOUT_SECONDS="${UP_TIMEOUT_SECONDS:-600}"
# Models stay loaded between requests, as on a busy deployment (the services' default unloads them
# after each one): the checks measure the spreading and the failures, not model loading.
export MODEL_TTL_SECONDS="${MODEL_TTL_SECONDS:-600}"
# The stack refuses to deploy without the backends' secret: a new one for each run.
BACKEND_TOKEN="${BACKEND_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
export BACKEND_TOKEN
IMAGES=(speech-stack/gateway:latest speech-stack/asr:embedded speech-stack/coqui-tts:embedded)

# The checks' HTTP client (httpx, gateway extra) and jiwer (dev extra), and espeak-ng for the
# consent recording; scripts/test.sh has installed all of it already.
tools_ready() {
  [ -x .venv/bin/python ] && command -v espeak-ng >/dev/null && .venv/bin/python -c "import httpx, jiwer" 2>/dev/null
}

ensure_tools() {
  tools_ready || scripts/install.sh gateway,dev espeak-ng
  tools_ready || { log "the venv lacks httpx or jiwer, or espeak-ng is missing"; exit 1; }
}

ensure_images() {
  local image missing=()
  for image in "${IMAGES[@]}"; do
    "$DOCKER" image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
  done
  if ((${#missing[@]})); then
    log "missing images ${missing[*]}: build them first with scripts/compose-smoke.sh up (CI runs it before)"
    exit 1
  fi
}

# A one-node swarm when the engine is in none. It advertises loopback only: no other node can join it.
ensure_swarm() {
  local swarm
  swarm="$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')"
  case "$swarm" in
    active) return ;;
    inactive) ;;
    *) log "the engine's swarm state is '$swarm': neither in a swarm nor out of one"; exit 1 ;;
  esac
  "$DOCKER" network inspect docker_gwbridge >/dev/null 2>&1 || touch "$state/created-gwbridge"
  log "docker swarm init (a one-node swarm on 127.0.0.1)"
  "$DOCKER" swarm init --advertise-addr 127.0.0.1 >/dev/null
  touch "$state/joined-swarm"
}

print_logs() {
  "$DOCKER" stack ps --no-trunc "$STACK" >&2 || true
  for service in gateway asr coqui-tts; do
    echo "----- last logs of $service -----" >&2
    "$DOCKER" service logs --no-task-ids --tail 60 "${STACK}_$service" >&2 || true
  done
}

up() {
  ensure_tools
  ensure_engine
  ensure_images
  ensure_swarm
  log "docker stack deploy $STACK (stack file $STACK_FILE, published port $SWARM_PORT)"
  "$DOCKER" stack deploy --resolve-image never --prune -c "$STACK_FILE" "$STACK"
  # PYTHONPATH: it imports the smoke runner (scripts/) and the tests' speech and WER helpers.
  PYTHONPATH=. .venv/bin/python -m scripts.scale_smoke || { print_logs; exit 1; }
}

# Poll until `$@` prints nothing (at most 120 s). `return 0`, not `return`: in the EXIT trap a bare
# return gives the status the script exits with, and a failed `up` would end `down` there.
until_none() {
  for _ in $(seq 120); do
    [ -z "$("$@" 2>/dev/null)" ] && return 0
    sleep 1
  done
  log "still there after 120 s: $*"
  return 1
}

# Remove a volume once no container uses it (a task's container can appear, and go, after
# `stack rm` has returned), at most 120 s.
remove_volume() {
  for _ in $(seq 120); do
    "$DOCKER" volume inspect "$1" >/dev/null 2>&1 || return 0
    "$DOCKER" volume rm "$1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "volume $1 still in use after 120 s"
  return 1
}

down() {
  if use_engine_if_running; then
    local filter="label=com.docker.stack.namespace=$STACK"
    if [ -n "$("$DOCKER" service ls -q --filter "$filter" 2>/dev/null)" ]; then
      log "docker stack rm $STACK"
      "$DOCKER" stack rm "$STACK" >/dev/null
    fi
    # stack rm returns before the containers have stopped and the networks are gone; the volume
    # can go only once no container uses it.
    until_none "$DOCKER" ps -aq --filter "$filter"
    until_none "$DOCKER" network ls -q --filter "$filter"
    remove_volume "${STACK}_voices"
    if [ -f "$state/joined-swarm" ]; then
      log "docker swarm leave (this script joined it)"
      "$DOCKER" swarm leave --force >/dev/null
      rm -f "$state/joined-swarm"
      if [ -f "$state/created-gwbridge" ]; then
        "$DOCKER" network rm docker_gwbridge >/dev/null 2>&1 || true
        rm -f "$state/created-gwbridge"
      fi
    fi
  else
    log "no Docker engine running: no stack to remove"
  fi
  stop_engine_if_ours
}

run_action "$action"
