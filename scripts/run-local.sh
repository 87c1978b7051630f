#!/usr/bin/env bash
# README command 1: install everything, then run gateway + ASR + TTS as local processes (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh gateway,asr,tts,embedded
exec .venv/bin/python scripts/run_local.py "$@"
