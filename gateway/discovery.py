"""Asking the backends how they are: /readyz probes, and keeping the model catalog truthful."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.backends import Backend
from gateway.catalog import BackendName, Catalog

log = logging.getLogger(__name__)


async def probe(backend: Backend, timeout: float) -> dict[str, Any]:
    """One backend's /healthz, as /readyz reports it: public, so it names the service, never its
    address (``reason`` is for the gateway's own log)."""
    try:
        response = await backend.client.get("/healthz", timeout=timeout)
    except httpx.HTTPError as exc:
        reason = f"{str(exc) or type(exc).__name__} [{backend.base_url}]"
        return {"ok": False, "error": f"the {backend.service} did not answer", "reason": reason}
    try:
        health = response.json()
    except ValueError:
        health = None
    return {"ok": response.status_code == 200, "status_code": response.status_code, "health": health}


def _learn(catalog: Catalog, name: BackendName, result: dict[str, Any]) -> bool:
    health = result.get("health")
    if not result["ok"] or not isinstance(health, dict) or not isinstance(health.get("engine"), str):
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
                reason = result.get("reason") or f"HTTP {result.get('status_code')}"
                log.warning("%s backend at %s does not answer /healthz (%s); /v1/models shows defaults for it",
                            backend.label, backend.base_url, reason)  # fmt: skip
            elif ok and name in failing:
                failing.discard(name)
                log.info("%s backend at %s answers /healthz again", backend.label, backend.base_url)
        await asyncio.sleep(interval if all(known) else min(interval, 2.0))


@contextlib.asynccontextmanager
async def catalog_watcher(
    catalog: Catalog, backends: dict[BackendName, Backend], *, interval: float, timeout: float
) -> AsyncIterator[None]:
    task = asyncio.create_task(keep_catalog_current(catalog, backends, interval=interval, timeout=timeout))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
