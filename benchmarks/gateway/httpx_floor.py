"""The floor under the gateway's added latency: a bare ``httpx.AsyncClient`` sending a request.

    python -m benchmarks.gateway.httpx_floor URL BODY_FILE CONTENT_TYPE SECONDS

Sends the request back to back for SECONDS, one at a time, the way the gateway talks to a
backend (uvloop, streamed body in pieces, response read chunk by chunk and dropped), and prints
one JSON line: requests/s, p50 and p99 in ms, this process's CPU ms per request, non-2xx count.
Compared with wrk's direct request in the same round, it shows what the HTTP client the gateway
is built on costs on its own, before any server or application code.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvloop

WARM_UP = 20
PIECE = 100_000  # the upload body in pieces, as an ASGI server hands them to the gateway


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, body: bytes, content_type: str, seconds: float) -> dict[str, float]:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), PIECE):
            yield body[start : start + PIECE]

    async def send(client: httpx.AsyncClient) -> int:
        headers = {"content-type": content_type, "content-length": str(len(body))}  # as the gateway sends it
        async with client.stream("POST", url, content=pieces(), headers=headers) as response:
            async for _ in response.aiter_raw():
                pass
        return response.status_code

    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        for _ in range(WARM_UP):
            await send(client)
        began, cpu_before = time.perf_counter(), cpu_seconds()
        while (start := time.perf_counter()) - began < seconds:
            errors += await send(client) >= 300
            latencies.append(time.perf_counter() - start)
        elapsed, cpu = time.perf_counter() - began, cpu_seconds() - cpu_before
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100, method="inclusive")[98] * 1000,
        "cpu_ms": cpu * 1000 / len(latencies),
        "errors": errors,
    }


def main() -> None:
    url, body_file, content_type, seconds = sys.argv[1:]
    result = uvloop.run(measure(url, Path(body_file).read_bytes(), content_type, float(seconds)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
