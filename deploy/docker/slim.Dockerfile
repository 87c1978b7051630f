# The two images with no model and no torch, one target each: `gateway` (the public API: validates
# and streams bytes) and `wyoming` (the Wyoming server for Home Assistant, a client of the gateway).
# Both grow from one stage, `slim`, so what they share is shared by structure.
# BASE_IMAGE: python:3.11-slim, or a stand-in with its layout (deploy/docker/local-base.sh).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Dependencies first, from pyproject.toml alone (the packages are empty stand-ins), so the install
# layer of each target is rebuilt when the dependency list changes and not on code edits. Editable,
# so the code copied afterwards is what runs (package data included) without a second install.
COPY pyproject.toml ./
COPY deploy/docker/stub_packages.py /tmp/
RUN python /tmp/stub_packages.py

FROM slim AS gateway
ENV PORT=5000
# The build secret `ca` is a CA bundle (empty unless BUILD_CA_BUNDLE names one) that pip trusts when
# given, for builds behind a TLS-inspecting proxy.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --editable ".[gateway]"
COPY common ./common
COPY gateway ./gateway
# The gateway writes nothing but spooled uploads in the temp dir, so it runs unprivileged (nobody).
USER 65534:65534
WORKDIR /app
EXPOSE 5000
CMD ["python", "-m", "gateway"]

FROM slim AS wyoming
ENV PORT=10300
# The build secret `ca`, as for the gateway.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --editable ".[wyoming]"
COPY common ./common
COPY wyoming_server ./wyoming_server
# It writes nothing, so it runs unprivileged (nobody).
USER 65534:65534
WORKDIR /app
EXPOSE 10300
CMD ["python", "-m", "wyoming_server"]
