#!/usr/bin/env bash
# README command 1: install everything, then run gateway + ASR + TTS (and, with WYOMING_PORT, the
# Wyoming server) as local processes (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh gateway,asr,tts,embedded,wyoming
exec .venv/bin/python scripts/run_local.py "$@"
