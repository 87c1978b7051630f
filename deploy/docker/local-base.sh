#!/usr/bin/env bash
# Make a stand-in for python:3.11-slim where no image registry can be reached, from Debian's
# package mirror alone: a bookworm root file system (debootstrap, minbase) with Python 3.11 in a
# virtual environment at /usr/local, imported into Docker.
#   deploy/docker/local-base.sh [IMAGE]     (default speech-stack/python:3.11-bookworm; needs root)
# Then build with BASE_IMAGE=IMAGE. The layout is the official image's (python, pip and
# site-packages under /usr/local, first on PATH), so the Dockerfiles and the embedded model paths
# are the same on either base. The venv is there because Debian's own Python refuses
# `pip install` outside one (PEP 668).
# Settings (environment): DEBIAN_MIRROR (default: the host's apt source, else deb.debian.org),
# DOCKER (the docker client to use).
set -euo pipefail
image="${1:-speech-stack/python:3.11-bookworm}"
docker="${DOCKER:-docker}"

host_mirror() {
  # The first Debian archive (not debian-security) in the host's apt sources, in either format.
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
  sed -n -E 's#^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?(https?://[^[:space:]]*/debian)/?([[:space:]].*)?$#\3#p' \
    "${files[@]}" 2>/dev/null | head -n 1 || true
}
mirror="${DEBIAN_MIRROR:-$(host_mirror)}"
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /var/tmp/speech-stack-base.XXXXXX)"
trap 'rm -rf "$root" "$root.log"' EXIT

echo "==> debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
rootfs="$(tar --numeric-owner -C "$root" -c . | "$docker" import -)"

# Python goes in with apt inside a container of the new file system (no image builder needed),
# then the result is committed with the official image's environment. libpython3.11: the shared
# library the official image has too (torchcodec's FFmpeg bindings load it).
echo "==> python3.11 into $image"
container="$("$docker" create "$rootfs" sh -c 'apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       python3.11 python3.11-venv libpython3.11 ca-certificates >/dev/null \
  && python3.11 -m venv /usr/local \
  && apt-get clean && rm -rf /var/lib/apt/lists/*')"
trap 'rm -rf "$root" "$root.log"; "$docker" rm -f "$container" >/dev/null' EXIT
"$docker" start --attach "$container" >/dev/null
[ "$("$docker" inspect --format "{{.State.ExitCode}}" "$container")" = 0 ] || { echo "installing Python failed" >&2; exit 1; }
"$docker" commit \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  "$container" "$image" >/dev/null
"$docker" run --rm "$image" python -c 'import sys, ssl; print("==> base ready: Python", sys.version.split()[0], ssl.OPENSSL_VERSION)'
