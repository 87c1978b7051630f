#!/usr/bin/env bash
# README command 2: install what the tests need, run the whole suite, then build and run the Docker
# Compose stack and check it (scripts/compose-smoke.sh), then deploy the same images with replicas on
# Docker Swarm and check that (scripts/scale-smoke.sh). Arguments go to pytest, and then only pytest
# runs (e.g. scripts/test.sh tests/gateway -x).
set -euo pipefail
cd "$(dirname "$0")/.."
# curl: the README examples; espeak-ng/sox: test speech; ffmpeg: decoding checks; chromium: docs and the playground in a
# real browser; firefox-esr: the playground in Firefox; nodejs: the Node tests below and the playground's JavaScript unit
# tests; nginx-light + wrk: the gateway benchmark's baseline and load tool.
debian=(curl espeak-ng ffmpeg sox chromium firefox-esr nodejs nginx-light wrk)
command -v npm >/dev/null || debian+=(npm)  # Debian ships npm apart from nodejs (NodeSource's nodejs includes it)
scripts/install.sh gateway,asr,tts,embedded,wyoming,dev "${debian[@]}"
# Pinned by tests/node/package-lock.json: the official OpenAI Node SDK (tests/e2e/test_node_sdk.py) and puppeteer-core,
# which drives the system Firefox (tests/e2e/test_playground_firefox.py; no browser download).
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
.venv/bin/python -m ruff check .
if (($#)); then
  exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest
scripts/compose-smoke.sh
exec scripts/scale-smoke.sh
