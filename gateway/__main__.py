"""``python -m gateway``: serve the public gateway (host, port and workers from settings).

The gateway runs on Granian, not on uvicorn like the backends: it is the only service that faces
clients, and Granian's HTTP/1 header read timeout (a setting of its own) disconnects a client whose
request line and headers take longer than REQUEST_HEADER_TIMEOUT_SECONDS (slow loris at the header
stage), which uvicorn cannot do.

Granian's workers are processes, so /metrics is prometheus-client's multiprocess mode: every worker
writes its values to files in PROMETHEUS_MULTIPROC_DIR (the operator's, emptied at start, or a
temporary directory removed at exit), and the worker that answers a scrape reads all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # as common.metrics reads it; importing that here would be too early


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """PROMETHEUS_MULTIPROC_DIR for this run, emptied: values left by an earlier run would be added
    to this one's."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield
        return
    path = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ[MULTIPROC_DIR] = str(path)
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    with metrics_directory():
        # Imported only now: prometheus-client picks where values go (memory or the directory) when
        # it is first imported, and the workers are forked from this process.
        from common.service import configure_logging
        from gateway.settings import Settings

        settings = Settings()
        configure_logging("gateway", settings.log_level)
        Granian(
            "gateway.app:create_worker_app",  # each worker process builds its app
            factory=True,
            interface=Interfaces.ASGI,
            # HTTP/1 only: in auto mode Granian first waits for a possible HTTP/2 preface with no time
            # limit, so a connection that never sends a byte would never meet the header timeout.
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(header_read_timeout=round(settings.request_header_timeout_seconds * 1000)),
            address=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=LogLevels(settings.log_level),
            # Granian's own lines through our handler; the access lines are the app's (TelemetryMiddleware),
            # with the request id and the key's tag.
            log_dictconfig={"loggers": {"_granian": {"propagate": True}}},
            log_access=False,
            # Past the grace the worker is killed (nothing else runs); 0 would mean "wait for ever".
            workers_kill_timeout=max(1, round(settings.shutdown_grace_seconds)),
        ).serve()


if __name__ == "__main__":
    main()
