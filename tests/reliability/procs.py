"""Services that tests can kill, restart on the same port and stop with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fixtures.servers import REPO, LogFile, free_port, stop, wait_healthy


@dataclass
class Service(LogFile):
    """``python -m module`` on a fixed loopback port, so it can come back where clients expect it."""

    module: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        wait_healthy(self.url, self.process, timeout, self.log_path)

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(self) -> None:
        """SIGTERM, as Docker and Kubernetes stop a container (returns at once)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def rss(self) -> int:
        assert self.process is not None
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextmanager
def start_service(module: str, env: Mapping[str, str], *, log_dir: Path) -> Iterator[Service]:
    service = Service(module, dict(env), log_dir / f"{module.replace('.', '_')}.log")
    service.log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        service.start()
        yield service
    finally:
        service.stop()
