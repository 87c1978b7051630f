# shellcheck shell=bash
# Sourced by the smoke scripts (compose-smoke.sh, scale-smoke.sh): the Docker engine they run on.
# An engine that already runs is used and left alone; one this script had to start is recorded in
# "$state/dockerd.pid" so that stop_engine_if_ours stops that one and no other.
# The caller sets: smoke (its name, for the log lines) and state (its folder under var/), and
# defines up and down for run_action.

log() { printf "[%s %4ds] %s\n" "$smoke" "$SECONDS" "$*"; }

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "apt-get install $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The docker.io client has BuildKit built in; a standalone docker CLI first on PATH may lack buildx.
docker_client() {
  if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; elif [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else echo docker; fi
}

ensure_engine() {
  command -v dockerd >/dev/null || apt_install docker.io
  DOCKER="$(docker_client)"
  export DOCKER
  "$DOCKER" info >/dev/null 2>&1 && return
  log "starting dockerd (log: $state/dockerd.log)"
  # dockerd outlives this script, so it must not keep the files the script inherited open: a lock
  # its caller holds (`flock docker.lock scripts/...`) would stay held until the engine stops.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -le 2 ] || eval "exec $fd>&-"; done; exec dockerd' \
    >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 60); do
    "$DOCKER" info >/dev/null 2>&1 && return
    sleep 1
  done
  tail -n 20 "$state/dockerd.log" >&2
  log "dockerd did not come up in 60 s"
  exit 1
}

# The engine's client, for commands that must not start one (down).
use_engine_if_running() {
  DOCKER="$(docker_client)"
  export DOCKER
  "$DOCKER" info >/dev/null 2>&1
}

stop_engine_if_ours() {
  [ -f "$state/dockerd.pid" ] || return 0
  local pid
  pid="$(cat "$state/dockerd.pid")"
  rm -f "$state/dockerd.pid"
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping the dockerd this script started (pid $pid)"
  kill "$pid"
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  log "dockerd (pid $pid) still running after 60 s"
}

# The smoke's command: up, down, or all (both; down runs however up ends, and the exit status stays
# up's). In the EXIT trap a bare `return` returns up's status, so down's functions return explicitly.
run_action() {
  case "$1" in
    up) up ;;
    down) down ;;
    all)
      # shellcheck disable=SC2154 # status is set inside the trap itself
      trap 'status=$?; trap - EXIT; down; exit "$status"' EXIT
      up
      ;;
  esac
}
