#!/usr/bin/env bash
# Install the stack into ./.venv (Python 3.11). Usage: scripts/install.sh EXTRAS [DEBIAN_PACKAGES...]
#   EXTRAS: comma-separated pyproject extras, e.g. "gateway,asr,tts,embedded"
# Debian packages are installed with apt-get only when missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="$1"
shift

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
packages=("$@")
# Debian's own Python needs python3-venv for `python -m venv`.
"$python" -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
echo "==> pip install -e .[$extras] (first run downloads torch & co, ~8 GB, a few minutes)"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
