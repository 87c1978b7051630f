#!/usr/bin/env bash
# README command 2: install what the tests need, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# curl: the README examples; espeak-ng/sox: test speech; ffmpeg: decoding checks; chromium: docs and the playground in a
# real browser; firefox-esr + nodejs: the playground in Firefox and its JavaScript unit tests; nginx-light + wrk: the
# gateway benchmark's baseline and load tool.
debian=(curl espeak-ng ffmpeg sox chromium firefox-esr nodejs nginx-light wrk)
command -v npm >/dev/null || debian+=(npm)  # Debian ships npm apart from nodejs (NodeSource's nodejs includes it)
scripts/install.sh gateway,asr,tts,embedded,dev "${debian[@]}"
# puppeteer-core drives the system Firefox (no browser download); installed again only when its lock file changes.
firefox_driver=tests/e2e/firefox
[ "$firefox_driver/node_modules/.package-lock.json" -nt "$firefox_driver/package-lock.json" ] \
  || npm ci --prefix "$firefox_driver" --no-audit --no-fund
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
