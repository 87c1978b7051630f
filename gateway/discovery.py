"""Asking the backends how they are: /readyz probes, and keeping the model catalog truthful."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.backends import Backend
from gateway.background import in_background
from gateway.catalog import BackendName, Catalog
from gateway.replicas import Replica

log = logging.getLogger(__name__)


async def _replica_health(backend: Backend, replica: Replica, timeout: float) -> dict[str, Any] | str:
    """A replica's /healthz body, or why it gave none (for the log)."""
    try:
        response = await backend.client.get(f"{replica.url}/healthz", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{str(exc) or type(exc).__name__} [{replica.url}]"
    if response.status_code != 200:
        return f"HTTP {response.status_code} [{replica.url}]"
    try:
        health = response.json()
    except ValueError:
        return f"not JSON [{replica.url}]"
    return health if isinstance(health, dict) else f"not an object [{replica.url}]"


async def probe(backend: Backend, timeout: float) -> dict[str, Any]:
    """A backend's replicas' /healthz, as /readyz reports them: ready when one answers. Public, so it
    names the service and counts replicas, never their addresses (``reason`` is for the gateway's
    own log)."""
    replicas = backend.replicas.all
    results = await asyncio.gather(*(_replica_health(backend, replica, timeout) for replica in replicas))
    healthy = [result for result in results if isinstance(result, dict)]
    summary: dict[str, Any] = {"ok": bool(healthy), "replicas": len(replicas), "answering": len(healthy)}
    if healthy:
        summary["health"] = healthy[0]
    else:
        summary["error"] = f"the {backend.service} did not answer"
    failures = [result for result in results if isinstance(result, str)]
    if failures:
        summary["reason"] = "; ".join(failures)
    return summary


def _learn(catalog: Catalog, name: BackendName, result: dict[str, Any]) -> bool:
    health = result.get("health")
    if not isinstance(health, dict) or not isinstance(health.get("engine"), str):
        return False
    serves = health.get("serves")
    catalog.update(name, health["engine"], serves if isinstance(serves, str) else None)
    return True


async def keep_catalog_current(
    catalog: Catalog, backends: dict[BackendName, Backend], *, interval: float, timeout: float
) -> None:
    """Poll the backends' /healthz in the background so /v1/models never waits on them.

    Retries quickly until every backend has answered once, then every ``interval`` seconds
    (a backend may be restarted with another model).
    """
    failing: set[str] = set()
    while True:
        results = await asyncio.gather(*(probe(b, timeout) for b in backends.values()))
        known = [_learn(catalog, name, result) for name, result in zip(backends, results, strict=True)]
        for (name, backend), result, ok in zip(backends.items(), results, known, strict=True):
            # One line when a backend stops answering and one when it is back, not one per poll.
            if not ok and name not in failing:
                failing.add(name)
                log.warning("%s backend does not answer /healthz (%s); /v1/models shows defaults for it",
                            backend.label, result.get("reason"))  # fmt: skip
            elif ok and name in failing:
                failing.discard(name)
                log.info("%s backend answers /healthz again", backend.label)
        await asyncio.sleep(interval if all(known) else min(interval, 2.0))


@contextlib.asynccontextmanager
async def catalog_watcher(
    catalog: Catalog, backends: dict[BackendName, Backend], *, interval: float, timeout: float
) -> AsyncIterator[None]:
    async with in_background(keep_catalog_current(catalog, backends, interval=interval, timeout=timeout)):
        yield
