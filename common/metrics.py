"""The Prometheus metrics every service exposes at ``GET /metrics`` (docs/operations.md lists them).

Defined once here, as prometheus-client intends (metrics live in its process-wide registry), so a
name has one definition and one meaning whichever service records it. Labels stay bounded: route
templates, never paths with ids; replica addresses, bounded by the replicas; no text from clients.

The backends run one process each. The gateway may run several worker processes (WORKERS): then
``python -m gateway`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
prometheus-client is imported, each worker writes its values there, and whichever worker answers a
scrape reads them all back as one exposition (``MultiProcessCollector``). Gauges say how values of
several workers combine (``multiprocess_mode``); a single process ignores it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app, multiprocess
from prometheus_client.metrics_core import Metric
from starlette.types import Receive, Scope, Send

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Speech work is long: a request or an inference may take minutes (the default buckets stop at 10 s).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
INFERENCE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LOAD_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

# -- every service --------------------------------------------------------------------------------
REQUESTS = Counter(
    "speech_requests_total",
    "Requests answered, by route template, method (WEBSOCKET for a WebSocket) and status (499: none was sent).",
    ["service", "route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "speech_request_duration_seconds",
    "Time from a request's arrival to the end of its response (a WebSocket: its whole session).",
    ["service", "route", "method"],
    buckets=REQUEST_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "speech_requests_in_flight",
    "Requests (and WebSocket sessions) being served.",
    ["service"],
    multiprocess_mode="livesum",
)

# -- backends ---------------------------------------------------------------------------------------
QUEUE_DEPTH = Gauge(
    "speech_queue_depth",
    "Requests waiting for the inference slot (MAX_QUEUE at most; one more is refused with 429).",
    ["service"],
    multiprocess_mode="livesum",
)
INFERENCE_IN_FLIGHT = Gauge(
    "speech_inference_in_flight",
    "1 while a request holds the inference slot, else 0.",
    ["service"],
    multiprocess_mode="livesum",
)
MODEL_LOADS = Counter("speech_model_loads_total", "Models loaded into memory, by kind of model.", ["service", "model"])
MODEL_UNLOADS = Counter(
    "speech_model_unloads_total", "Models dropped from memory, by kind of model.", ["service", "model"]
)
MODEL_LOAD_SECONDS = Histogram(
    "speech_model_load_seconds",
    "Time a successful model load took.",
    ["service", "model"],
    buckets=LOAD_BUCKETS,
)
INFERENCE_SECONDS = Histogram(
    "speech_inference_seconds",
    "Compute time of one request in the inference slot (decoding, inference, encoding; not model loads, "
    "not waiting for the client).",
    ["service", "task"],
    buckets=INFERENCE_BUCKETS,
)
AUDIO_SECONDS = Counter(
    "speech_audio_seconds_total",
    "Seconds of audio transcribed (whole files and finished realtime turns) or synthesized.",
    ["service", "direction"],
)
REALTIME_SESSIONS = Gauge(
    "speech_realtime_sessions", "Open realtime transcription sessions.", ["service"], multiprocess_mode="livesum"
)

# -- gateway ----------------------------------------------------------------------------------------
BACKEND_REQUESTS = Counter(
    "speech_backend_requests_total",
    "Attempts to send a request to a backend replica, by how each ended.",
    ["backend", "replica", "outcome"],
)
BACKEND_REPLICA_UP = Gauge(
    "speech_backend_replica_up",
    "1 while a replica takes requests, 0 while it is rested after a refused connection (in any worker) "
    "or after its address left the backend's name.",
    ["backend", "replica"],
    multiprocess_mode="livemin",
)
BACKEND_REPLICAS = Gauge(
    "speech_backend_replicas", "Replicas the backend setting stands for now.", ["backend"], multiprocess_mode="livemax"
)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _forget_dead_workers(path: str) -> None:
    """Drop the live gauges of worker processes that have exited (a respawned worker leaves its
    files behind; Granian has no exit hook to call ``mark_process_dead`` from)."""
    matches = (_LIVE_GAUGE_FILE.fullmatch(name) for name in os.listdir(path))
    for pid in {int(match.group(1)) for match in matches if match}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:  # alive, someone else's
            pass


class _Exposed:
    """What a scrape reads: this process's metrics, or (several workers) every live worker's files."""

    def collect(self) -> Iterator[Metric]:
        path = os.environ.get(MULTIPROC_DIR)
        if not path:
            yield from REGISTRY.collect()
            return
        _forget_dead_workers(path)
        yield from multiprocess.MultiProcessCollector(None, path).collect()


class _MetricsApp:
    """prometheus-client's ASGI exposition (format negotiation, gzip) as a route's ASGI app."""

    def __init__(self) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Exposed())
        self._app = make_asgi_app(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def install_metrics(app: FastAPI) -> None:
    """``GET /metrics``. Who may read it is decided in front of it: the gateway's API keys, the
    backends' BACKEND_TOKEN."""
    app.add_route("/metrics", _MetricsApp(), methods=["GET"], include_in_schema=False)
