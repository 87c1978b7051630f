"""The whole local stack, started the way README command 1 starts it: ``scripts/run_local.py``.

The launcher runs ``python -m asr``, ``python -m coqui_tts`` and ``python -m gateway`` on loopback,
and with ``wyoming=True`` the Wyoming server (``python -m wyoming_server``, WYOMING_PORT);
``local_stack(env)`` gives it free ports and extra settings, waits for the launcher's ready line and
the gateway's ``/readyz``, and at the end stops it the way a user does (SIGINT = Ctrl-C) and checks
that the launcher and every service process it started are gone.

Tests may stop one backend and start it again by hand (``stack.stop_service``/``start_service``);
a service started that way is stopped at teardown too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from openai import OpenAI

from tests.servers import REPO, free_port, wait_healthy

LAUNCHER = REPO / "scripts" / "run_local.py"
READY_LINE = "[run_local] ready:"
SERVICES = ("gateway", "asr", "coqui-tts")


@dataclass(frozen=True)
class StoppedService:
    """What it takes to start a service again exactly as the launcher did."""

    port: int
    cmdline: list[str]
    cwd: str
    environ: dict[str, str]


@dataclass
class LocalStack:
    launcher: subprocess.Popen[bytes]
    ports: dict[str, int]
    log_path: Path
    children: list[psutil.Process] = field(default_factory=list)
    restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def openai_client(self) -> OpenAI:
        """The SDK as the README shows it, without retries: a test must see the first answer."""
        return OpenAI(base_url=f"{self.url}/v1", api_key="any-key", max_retries=0, timeout=300)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def process_on_port(self, port: int) -> psutil.Process:
        """The process listening on ``port`` (how an operator finds a service: by its port)."""
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
        raise LookupError(f"nothing listens on 127.0.0.1:{port}")

    def stop_service(self, name: str, timeout: float = 30.0) -> StoppedService:
        """SIGTERM the service listening on its port and wait until it is gone."""
        process = self.process_on_port(self.ports[name])
        stopped = StoppedService(self.ports[name], process.cmdline(), process.cwd(), process.environ())
        process.terminate()
        process.wait(timeout)
        return stopped

    def start_service(self, stopped: StoppedService, timeout: float = 120.0) -> None:
        """Start a stopped service again with the same command line and environment; wait until healthy."""
        with self.log_path.open("ab") as log_file:
            process = subprocess.Popen(
                stopped.cmdline, cwd=stopped.cwd, env=stopped.environ, stdout=log_file, stderr=subprocess.STDOUT
            )
        self.restarted.append(process)
        wait_healthy(f"http://127.0.0.1:{stopped.port}", process, timeout, self.log_path)


def _ready(stack: LocalStack) -> bool:
    if READY_LINE not in stack.log():
        return False
    try:
        return httpx.get(f"{stack.url}/readyz", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(stack: LocalStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _ready(stack):
        if stack.launcher.poll() is not None:
            raise RuntimeError(f"launcher exited with {stack.launcher.returncode}:\n{stack.log()[-6000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack not ready within {timeout:g} s:\n{stack.log()[-6000:]}")
        time.sleep(0.3)


def run_launcher(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python scripts/run_local.py`` with ``env`` on top of ours, output to ``log_path``."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, str(LAUNCHER)],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


@dataclass(frozen=True)
class LauncherExit:
    returncode: int
    log: str
    left_running: list[psutil.Process]


def run_launcher_to_exit(env: Mapping[str, str], log_path: Path, timeout: float) -> LauncherExit:
    """Run the launcher until it exits by itself, watching which processes it starts on the way."""
    launcher = run_launcher(env, log_path)
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + timeout
    while launcher.poll() is None:
        try:
            seen.update(psutil.Process(launcher.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            break
        if time.monotonic() > deadline:
            launcher.kill()
            launcher.wait()
            break
        time.sleep(0.05)
    launcher.wait()
    _, alive = psutil.wait_procs(list(seen), timeout=5)
    for process in alive:
        process.kill()
    return LauncherExit(launcher.returncode, log_path.read_text(errors="replace"), alive)


def shutdown(stack: LocalStack, timeout: float = 60.0) -> None:
    """Ctrl-C the launcher; assert that it and every process it started are gone."""
    if stack.launcher.poll() is None:
        stack.children = stack.children or psutil.Process(stack.launcher.pid).children(recursive=True)
    for process in stack.restarted:  # ours, not the launcher's: stop them like the launcher would
        process.terminate()
    if stack.launcher.poll() is None:
        stack.launcher.send_signal(signal.SIGINT)
    try:
        stack.launcher.wait(timeout)
    except subprocess.TimeoutExpired:
        stack.launcher.kill()
        stack.launcher.wait()
        raise AssertionError(f"launcher did not stop within {timeout:g} s of SIGINT:\n{stack.log()[-4000:]}") from None
    for process in stack.restarted:
        process.wait(timeout)
    _, alive = psutil.wait_procs(stack.children, timeout=5)
    for process in alive:  # never leave processes behind, even when the assertion below fails
        process.kill()
    assert not alive, f"services still running after the launcher stopped: {[p.pid for p in alive]}"
    assert stack.launcher.returncode == 0, f"launcher exit code {stack.launcher.returncode}:\n{stack.log()[-4000:]}"


@contextmanager
def local_stack(
    env: Mapping[str, str], *, log_path: Path, timeout: float = 240.0, wyoming: bool = False
) -> Iterator[LocalStack]:
    """The whole stack on free loopback ports, with ``env`` (service settings) on top of ours."""
    services = (*SERVICES, "wyoming") if wyoming else SERVICES
    ports = {name: free_port() for name in services}
    while len(set(ports.values())) < len(services):  # the OS may hand out a just-released port again
        ports = {name: free_port() for name in services}
    launcher_env = {
        "GATEWAY_PORT": str(ports["gateway"]),
        "ASR_PORT": str(ports["asr"]),
        "TTS_PORT": str(ports["coqui-tts"]),
        "STARTUP_TIMEOUT_SECONDS": str(int(timeout)),
        **({"WYOMING_PORT": str(ports["wyoming"])} if wyoming else {}),
        **env,
    }
    stack = LocalStack(run_launcher(launcher_env, log_path), ports, log_path)
    try:
        _wait_ready(stack, timeout + 10)
        launcher = psutil.Process(stack.launcher.pid)
        count = len(services)
        assert len(launcher.children()) == count, f"expected {count} service processes, got {launcher.children()}"
        stack.children = launcher.children(recursive=True)  # with any worker processes of theirs
        yield stack
    finally:
        shutdown(stack)
