"""Gateway benchmark: our gateway vs direct-to-backend vs nginx, on loopback, with wrk.

    python -m benchmarks.gateway [--duration 5] [--rounds 3] [--workers 1] [--only upload] [--output results.md]

Starts the fast fake backend, the gateway (``python -m gateway``) and nginx (reverse proxy with
proxy_buffering off, request buffering off and a keep-alive upstream), runs bounded wrk runs for
/v1/models, a 1 MB transcription upload and a 1 MB speech download at concurrency 1 and 8 (the
three targets interleaved over several rounds, as a shared VM's speed drifts), measuring each
serving process's CPU time per request, then streams a 500 MB upload through the gateway while
sampling its RSS. Prints a Markdown table.
Needs the Debian packages ``wrk`` and ``nginx-light``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 0;
  upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
"""
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def started(args: list[str], url: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float = 0.0  # CPU time (user + system) of the serving process tree per request


def median_result(results: list[Result]) -> Result:
    """Each figure's median over the rounds."""
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        cpu_ms=statistics.median(r.cpu_ms for r in results),
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, concurrency: int, duration: int, script: Path | None, env: dict[str, str]) -> Result:
    threads = 1 if concurrency == 1 else 2
    args = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency", url]
    if script is not None:
        args[1:1] = ["-s", str(script)]
    out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (p50 and p99 and rps):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"  wrk socket errors for {url}: {socket_errors.group(1)}", file=sys.stderr)
    return Result(float(rps.group(1)), _ms(*p50.groups()), _ms(*p99.groups()), int(errors.group(1)) if errors else 0)


def multipart_upload(path: Path, size: int) -> str:
    boundary = "benchboundary7MA4YWxkTrZu0gW"
    with path.open("wb") as out:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n".encode()
        )
        out.write(os.urandom(size))
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}"


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def tree_rss(pid: int) -> int:
    parent = psutil.Process(pid)
    total = 0
    for process in [parent, *parent.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def upload_rss(gateway_url: str, gateway_pid: int, size: int, file_first: bool) -> tuple[float, float]:
    """Stream ``size`` bytes through the gateway; return (RSS growth MB, seconds)."""
    boundary = "rssboundary"
    model = f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'.encode()
    file_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    if file_first:
        tail = b"\r\n" + model + f"--{boundary}--\r\n".encode()
    head = file_head if file_first else model + file_head
    block = os.urandom(MB)

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(size // MB):
            yield block
        yield tail

    length = len(head) + size // MB * MB + len(tail)
    baseline = peak = tree_rss(gateway_pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.02):
            peak = max(peak, tree_rss(gateway_pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    response = httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "content-length": str(length)},
        timeout=300,
    )
    elapsed = time.monotonic() - began
    stop.set()
    sampler.join()
    response.raise_for_status()
    assert response.json()["bytes"] == length, response.text
    return (peak - baseline) / MB, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per target; medians are shown")
    # 1, like the gateway's WORKERS default: on a 2-core machine that also runs wrk and the backend,
    # one worker each did at least as well as two for both proxies (docs/benchmarks.md).
    parser.add_argument("--workers", type=int, default=1, help="gateway WORKERS and nginx worker_processes")
    parser.add_argument("--upload-mb", type=int, default=500, help="size of the RSS upload (0: skip it)")
    parser.add_argument("--output", type=Path, help="also write the Markdown table here")
    parser.add_argument("--only", help="run only the scenarios whose name contains this (e.g. upload)")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed (Debian packages: wrk, nginx-light)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        backend_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
        backend_url = f"http://127.0.0.1:{backend_port}"
        backend = stack.enter_context(
            started(
                [sys.executable, "-m", "benchmarks.gateway.backend"],
                f"{backend_url}/healthz",
                {"PORT": str(backend_port)},
                tmp / "backend.log",
            )
        )
        gateway = stack.enter_context(
            started(
                [sys.executable, "-m", "gateway"],
                f"http://127.0.0.1:{gateway_port}/healthz",
                {
                    "HOST": "127.0.0.1",
                    "PORT": str(gateway_port),
                    "ASR_BASE_URL": backend_url,
                    "TTS_BASE_URL": backend_url,
                    "WORKERS": str(args.workers),
                    "LOG_LEVEL": "warning",
                    "SPOOL_DIR": str(tmp),
                },
                tmp / "gateway.log",
            )
        )
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=args.workers, tmp=tmp, backend_port=backend_port, port=nginx_port))
        nginx_process = stack.enter_context(
            started([nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")],
                    f"http://127.0.0.1:{nginx_port}/healthz", {}, tmp / "nginx.log")
        )  # fmt: skip

        upload = tmp / "upload.bin"
        upload_type = multipart_upload(upload, MB)
        speech = tmp / "speech.json"
        speech.write_text('{"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "mp3"}')
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        scenarios = [
            ("GET /v1/models", "/v1/models", None, {}),
            ("1 MB transcription upload", "/v1/audio/transcriptions", script,
             {"BENCH_BODY": str(upload), "BENCH_CONTENT_TYPE": upload_type}),
            ("1 MB speech download", "/v1/audio/speech", script,
             {"BENCH_BODY": str(speech), "BENCH_CONTENT_TYPE": "application/json"}),
        ]  # fmt: skip
        scenarios = [s for s in scenarios if args.only is None or args.only in s[0]]
        # Each target with the process whose CPU it costs: the backend alone, or the proxy in front.
        targets = {
            "direct": (backend_url, backend.pid),
            "nginx": (f"http://127.0.0.1:{nginx_port}", nginx_process.pid),
            "gateway": (f"http://127.0.0.1:{gateway_port}", gateway.pid),
        }
        rows = []
        for name, path, lua, env in scenarios:
            for concurrency in (1, 8):
                for base, _ in targets.values():
                    wrk(base + path, concurrency, 1, lua, env)  # warm-up (connections, caches)
                rounds: list[dict[str, Result]] = []
                for round_index in range(args.rounds):
                    # A shared VM's speed drifts: interleave the targets, rotating who goes first.
                    order = list(targets)[round_index % 3 :] + list(targets)[: round_index % 3]
                    results = {}
                    for target in order:
                        base, pid = targets[target]
                        cpu_before = tree_cpu(pid)
                        result = wrk(base + path, concurrency, args.duration, lua, env)
                        result.cpu_ms = (tree_cpu(pid) - cpu_before) * 1000 / max(result.rps * args.duration, 1)
                        results[target] = result
                    rounds.append(results)
                rows.append((name, concurrency, rounds))
                print(f"done: {name} c={concurrency}", file=sys.stderr)

        gateway_url = targets["gateway"][0]
        if args.upload_mb:
            streamed = upload_rss(gateway_url, gateway.pid, args.upload_mb * MB, file_first=False)
            spooled = upload_rss(gateway_url, gateway.pid, args.upload_mb * MB, file_first=True)

    lines = [
        f"Machine: {platform.node()}, {psutil.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"load average before the run {os.getloadavg()[0]:.1f}; gateway WORKERS={args.workers}, nginx "
        f"worker_processes={args.workers}; wrk {args.duration} s per run (-t1 at c=1, -t2 at c=8), "
        f"{args.rounds} interleaved rounds: medians, and each round's gateway/nginx ratio in brackets.",
        "",
        "| scenario | c | direct rps / p50 / p99 ms | nginx rps / p50 / p99 ms | gateway rps / p50 / p99 ms "
        "| gateway/nginx rps | gateway p50 - direct p50 | CPU ms/request: backend / nginx / gateway |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, concurrency, rounds in rows:
        results = {target: median_result([r[target] for r in rounds]) for target in rounds[0]}
        cells = [f"{r.rps:.0f} / {r.p50_ms:.2f} / {r.p99_ms:.2f}" for r in results.values()]
        # Ratios are taken within each round (same moment, same VM speed), then the median.
        ratio = statistics.median(r["gateway"].rps / r["nginx"].rps for r in rounds)
        spread = ", ".join(f"{r['gateway'].rps / r['nginx'].rps:.0%}" for r in rounds)
        added = statistics.median(r["gateway"].p50_ms - r["direct"].p50_ms for r in rounds)
        errors = sum(r.errors for round_ in rounds for r in round_.values())
        note = f" ({errors} non-2xx!)" if errors else ""
        cpu = " / ".join(f"{r.cpu_ms:.2f}" for r in results.values())
        lines.append(
            f"| {name}{note} | {concurrency} | {' | '.join(cells)} | {ratio:.0%} ({spread}) | {added:+.2f} ms | {cpu} |"
        )
    if args.upload_mb:
        lines += [
            "",
            f"Gateway RSS growth (all worker processes) while proxying a {args.upload_mb} MB upload: "
            f"{streamed[0]:.1f} MB streamed (fields before the file, {streamed[1]:.1f} s), "
            f"{spooled[0]:.1f} MB spooled (file before the fields, {spooled[1]:.1f} s).",
        ]
    table = "\n".join(lines)
    print(table)
    if args.output:
        args.output.write_text(table + "\n")


if __name__ == "__main__":
    main()
