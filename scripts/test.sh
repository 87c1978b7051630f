#!/usr/bin/env bash
# README command 2: install what the tests need, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# curl: the README examples; espeak-ng/sox: test speech; ffmpeg: decoding checks; chromium: docs in a real browser;
# nginx-light + wrk: the gateway benchmark's baseline and load tool.
scripts/install.sh gateway,asr,tts,embedded,dev curl espeak-ng ffmpeg sox chromium nginx-light wrk
# The official OpenAI Node SDK, pinned by tests/node/package-lock.json (tests/e2e/test_node_sdk.py).
command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
