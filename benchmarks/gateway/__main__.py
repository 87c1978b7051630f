"""Gateway benchmark: what the gateway adds in front of the backends, and how far it is from a bottleneck.

    python -m benchmarks.gateway [--duration 5] [--rounds 3] [--workers 1] [--output results.md]

One run, everything on 127.0.0.1, measuring against its targets:

(a) latency: a 1 MB transcription upload and a 1 MB speech download at concurrency 1 (wrk), sent
    straight to the fast fake backend (``benchmarks/gateway/backend.py``), through nginx and
    through the gateway: the gateway's p50 minus the direct p50 is at most 2 ms;
(b) memory: the gateway's RSS grows by less than 50 MB while it streams a 500 MB upload (fields
    before the file, streamed; and file first, spooled);
(c) ceiling: the gateway's request rate to the fake backend for the requests the real backends
    serve (a ~3 s speech clip to transcribe, one sentence to speak; wrk at a concurrency that
    saturates it) is at least 20 times the fastest real backend's rate for the same requests
    (the warm ASR service on tiny.en and the warm TTS service on Piper, two requests at a time);
(d) nginx (reverse proxy, no buffering, keep-alive upstream) as a reference, for information;
(e) the floor under (a), for information: a bare ``httpx.AsyncClient`` (the gateway's HTTP client,
    ``benchmarks/gateway/httpx_floor.py``) sending the same requests straight to the fake backend,
    its p50 minus wrk's direct p50.

The targets are measured in interleaved rounds (a shared machine's speed drifts), with the CPU
time each serving process tree spends per request. Prints Markdown tables with ratios and a
pass/fail per target, and exits with status 1 if a target is missed. Needs the Debian packages
``wrk`` and ``nginx-light``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from fixtures.asr_models import tiny_en_path
from fixtures.servers import free_port, run_service, stop, wait_healthy
from fixtures.speech import SENTENCES, speech_file

MB = 1024 * 1024
ADDED_P50_LIMIT_MS = 2.0
RSS_LIMIT_MB = 50.0
CEILING_FACTOR = 20.0
SENTENCE = SENTENCES[3]  # ~3 s of speech: the clip to transcribe and the sentence to speak
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


@dataclass
class Request:
    """A POST that wrk sends: path, body file and content type."""

    path: str
    body: Path
    content_type: str

    def wrk_env(self) -> dict[str, str]:
        return {"BENCH_BODY": str(self.body), "BENCH_CONTENT_TYPE": self.content_type}


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, request: Request, concurrency: int, duration: int, script: Path) -> Result:
    threads = 1 if concurrency == 1 else 2
    args = ["wrk", "-s", str(script), f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency", url]
    env = {**os.environ, **request.wrk_env()}
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
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


def measured_wrk(url: str, pid: int, request: Request, concurrency: int, duration: int, script: Path) -> Result:
    """wrk against ``url``, with the CPU time the process tree ``pid`` spent per request."""
    before = tree_cpu(pid)
    result = wrk(url, request, concurrency, duration, script)
    result.cpu_ms = (tree_cpu(pid) - before) * 1000 / max(result.rps * duration, 1)
    return result


def httpx_floor(url: str, request: Request, duration: int) -> Result:
    """A bare httpx client sending ``request`` to ``url`` one at a time (its own CPU per request)."""
    args = [sys.executable, "-m", "benchmarks.gateway.httpx_floor", url, str(request.body), request.content_type,
            str(duration)]  # fmt: skip
    out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    return Result(out["rps"], out["p50_ms"], out["p99_ms"], out["errors"], out["cpu_ms"])


def multipart(path: Path, filename: str, file_bytes: bytes) -> Request:
    """A transcription form as the OpenAI SDKs send it (fields first, then the file)."""
    boundary = "benchboundary7MA4YWxkTrZu0gW"
    with path.open("wb") as out:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: audio/wav\r\n\r\n".encode()
        )
        out.write(file_bytes)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return Request("/v1/audio/transcriptions", path, f"multipart/form-data; boundary={boundary}")


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
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
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
    done.set()
    sampler.join()
    response.raise_for_status()
    assert response.json()["bytes"] == length, response.text
    return (peak - baseline) / MB, elapsed


def request_rate(send: Callable[[httpx.Client], None], concurrency: int, seconds: float) -> float:
    """Requests per second of ``concurrency`` clients each sending ``send`` back to back for ``seconds``
    (each finishes the request it has started; the rate counts until the last one ends)."""
    began = time.monotonic()
    deadline = began + seconds
    counts = [0] * concurrency

    def client(index: int) -> None:
        with httpx.Client(timeout=600) as http:
            while time.monotonic() < deadline:
                send(http)
                counts[index] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def post(url: str, request: Request) -> Callable[[httpx.Client], None]:
    body = request.body.read_bytes()

    def send(http: httpx.Client) -> None:
        http.post(url + request.path, content=body, headers={"content-type": request.content_type}).raise_for_status()

    return send


@contextmanager
def nginx(tmp: Path, workers: int, backend_url: str) -> Iterator[tuple[str, int]]:
    """nginx as a reverse proxy in front of ``backend_url``: (its URL, its master's pid)."""
    port = free_port()
    conf = tmp / "nginx.conf"
    backend_port = int(backend_url.rsplit(":", 1)[1])
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, backend_port=backend_port, port=port))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with (tmp / "nginx.log").open("wb") as log:
        process = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")],
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, 30)
        yield url, process.pid
    finally:
        stop(process)


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run and per real-backend rate")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown")
    parser.add_argument("--workers", type=int, default=1, help="gateway WORKERS and nginx worker_processes")
    parser.add_argument("--upload-mb", type=int, default=500, help="size of the RSS upload")
    parser.add_argument("--ceiling-concurrency", type=int, default=16, help="wrk connections for the ceiling")
    parser.add_argument("--output", type=Path, help="also write the Markdown tables here")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed (Debian packages: wrk, nginx-light)")
    # CTranslate2's idle OpenMP threads would otherwise spin between requests and take the cores
    # from the processes measured beside them.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    load_before = load()
    clip = speech_file(SENTENCE, "wav")

    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)

        def service(module: str, env: dict[str, str]) -> tuple[str, int]:
            server = stack.enter_context(run_service(module, {"LOG_LEVEL": "warning", **env}, tmp_dir=tmp, timeout=180))
            return server.url, server.process.pid

        def gateway(backend_url: str) -> tuple[str, int]:
            return service("gateway", {"ASR_BASE_URL": backend_url, "TTS_BASE_URL": backend_url,
                                       "WORKERS": str(args.workers), "SPOOL_DIR": str(tmp)})  # fmt: skip

        # The real backends, warm, and the requests they serve.
        real = {"MODEL_TTL_SECONDS": "600", "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}
        asr_url, _ = service("asr", {**real, "WHISPERX_MODEL": tiny_en_path(), "CPU_THREADS": str(os.cpu_count())})
        tts_url, _ = service("coqui_tts", {**real, "TTS_ENGINE": "piper"})
        transcription = multipart(tmp / "clip.form", clip.name, clip.read_bytes())
        speech = Request("/v1/audio/speech", tmp / "speech.json", "application/json")
        speech.body.write_text(f'{{"model": "tts-1", "input": "{SENTENCE}", "voice": "alloy"}}')
        text = httpx.post(asr_url + transcription.path, content=transcription.body.read_bytes(),
                          headers={"content-type": transcription.content_type}, timeout=600)  # fmt: skip
        text.raise_for_status()
        assert "friday" in text.json()["text"].lower(), text.text  # the real model, really transcribing
        audio = httpx.post(tts_url + speech.path, content=speech.body.read_bytes(),
                           headers={"content-type": speech.content_type}, timeout=600)  # fmt: skip
        audio.raise_for_status()

        # Fake backend A answers speech with 1 MB (latency and memory); B with as many bytes as
        # the real TTS service's answer (ceiling).
        backend_a, backend_a_pid = service("benchmarks.gateway.backend", {"SPEECH_BYTES": str(MB)})
        backend_b, _ = service("benchmarks.gateway.backend", {"SPEECH_BYTES": str(len(audio.content))})
        gateway_a, gateway_a_pid = gateway(backend_a)
        gateway_b, gateway_b_pid = gateway(backend_b)
        nginx_url, nginx_pid = stack.enter_context(nginx(tmp, args.workers, backend_a))

        def wrk_target(base: str, pid: int) -> Callable[[Request], Result]:
            return lambda request: measured_wrk(base + request.path, pid, request, 1, args.duration, script)

        latency_targets = {
            "direct": wrk_target(backend_a, backend_a_pid),
            "nginx": wrk_target(nginx_url, nginx_pid),
            "httpx": lambda request: httpx_floor(backend_a + request.path, request, args.duration),
            "gateway": wrk_target(gateway_a, gateway_a_pid),
        }
        latency_requests = {
            "1 MB transcription upload": multipart(tmp / "upload.form", "a.wav", os.urandom(MB)),
            "1 MB speech download": speech,
        }
        ceiling_requests = {
            f"{transcription.body.stat().st_size // 1000} kB transcription upload (3 s clip)": (transcription, asr_url),
            f"one-sentence speech ({len(audio.content) // 1000} kB mp3)": (speech, tts_url),
        }
        for request in latency_requests.values():  # warm-up: connections, caches
            for base in (backend_a, nginx_url, gateway_a):
                wrk(base + request.path, request, 1, 1, script)
        for request, _ in ceiling_requests.values():
            wrk(gateway_b + request.path, request, args.ceiling_concurrency, 1, script)

        latency: dict[str, list[dict[str, Result]]] = {name: [] for name in latency_requests}
        ceiling: dict[str, list[tuple[float, Result]]] = {name: [] for name in ceiling_requests}
        for round_index in range(args.rounds):
            for name, request in latency_requests.items():
                # Rotate who goes first, so a drift in the machine's speed hits every target alike.
                shift = round_index % len(latency_targets)
                order = list(latency_targets)[shift:] + list(latency_targets)[:shift]
                results = {target: latency_targets[target](request) for target in order}
                latency[name].append({target: results[target] for target in latency_targets})
            for name, (request, real_url) in ceiling_requests.items():
                real_rate = request_rate(post(real_url, request), 2, args.duration)
                through = measured_wrk(gateway_b + request.path, gateway_b_pid, request,
                                       args.ceiling_concurrency, args.duration, script)  # fmt: skip
                ceiling[name].append((real_rate, through))
            print(f"round {round_index + 1} of {args.rounds} done (load {load()})", file=sys.stderr)

        size = args.upload_mb * MB
        streamed = upload_rss(gateway_a, gateway_a_pid, size, file_first=False)
        spooled = upload_rss(gateway_a, gateway_a_pid, size, file_first=True)
        load_after = load()

    table, passed = report(args, latency, ceiling, streamed, spooled, (load_before, load_after))
    print(table)
    if args.output:
        args.output.write_text(table + "\n")
    sys.exit(0 if passed else 1)


def report(
    args: argparse.Namespace,
    latency: dict[str, list[dict[str, Result]]],
    ceiling: dict[str, list[tuple[float, Result]]],
    streamed: tuple[float, float],
    spooled: tuple[float, float],
    loads: tuple[str, str],
) -> tuple[str, bool]:
    """The Markdown tables, and whether every target holds."""
    verdicts: list[bool] = []

    def verdict(ok: bool) -> str:
        verdicts.append(ok)
        return "**pass**" if ok else "**FAIL**"

    def rounds_of(values: list[float], fmt: str) -> str:
        return ", ".join(format(v, fmt) for v in values)

    targets = ["| target | measured (median; rounds) | limit | result |", "|---|---|---|---|"]
    for name, rounds in latency.items():
        added = [r["gateway"].p50_ms - r["direct"].p50_ms for r in rounds]
        value = statistics.median(added)
        targets.append(f"| (a) added p50 over direct, {name}, c=1 | {value:+.2f} ms ({rounds_of(added, '+.2f')}) "
                       f"| <= {ADDED_P50_LIMIT_MS:g} ms | {verdict(value <= ADDED_P50_LIMIT_MS)} |")  # fmt: skip
    growth = max(streamed[0], spooled[0])
    targets.append(f"| (b) RSS growth, {args.upload_mb} MB upload | {streamed[0]:.1f} MB streamed, {spooled[0]:.1f} MB "
                   f"spooled | < {RSS_LIMIT_MB:g} MB | {verdict(growth < RSS_LIMIT_MB)} |")  # fmt: skip
    # Ratios within each round (same moment, same machine speed), then the median.
    per_round = [
        min(r[1].rps for r in rounds) / max(r[0] for r in rounds) for rounds in zip(*ceiling.values(), strict=True)
    ]
    factor = statistics.median(per_round)
    ok = verdict(factor >= CEILING_FACTOR)
    targets.append(f"| (c) gateway ceiling (the lower of the two) / fastest real backend | {factor:.0f}x "
                   f"({rounds_of(per_round, '.0f')}) | >= {CEILING_FACTOR:g}x | {ok} |")  # fmt: skip
    for name, rounds in latency.items():
        ratios = [r["gateway"].rps / r["nginx"].rps for r in rounds]
        targets.append(f"| (d) gateway / nginx requests/s, {name}, c=1 | {statistics.median(ratios):.0%} "
                       f"({rounds_of(ratios, '.0%')}) | information | - |")  # fmt: skip
    for name, rounds in latency.items():
        added = [r["httpx"].p50_ms - r["direct"].p50_ms for r in rounds]
        value = statistics.median(added)
        targets.append(f"| (e) floor: a bare httpx client's p50 over direct, {name}, c=1 | {value:+.2f} ms "
                       f"({rounds_of(added, '+.2f')}) | information | - |")  # fmt: skip

    lines = [
        f"Machine: {platform.node()}, {psutil.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}; load average (1/5/15 min) {loads[0]} before the run, {loads[1]} after. "
        f"Gateway WORKERS={args.workers} (Granian), nginx worker_processes={args.workers}; {args.rounds} interleaved "
        f"rounds of wrk {args.duration} s per cell.",
        "",
        *targets,
        "",
        "Latency at concurrency 1, to the fake backend (medians over the rounds):",
        "",
        "| request | direct rps / p50 / p99 ms | nginx rps / p50 / p99 ms | bare httpx client rps / p50 / p99 ms "
        "| gateway rps / p50 / p99 ms | added p50: nginx / httpx client / gateway "
        "| CPU ms/request: backend / nginx / httpx client (its own) / gateway |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rounds in latency.items():
        results = {target: median_result([r[target] for r in rounds]) for target in rounds[0]}
        errors = sum(r.errors for r in results.values())
        note = f" ({errors} non-2xx!)" if errors else ""
        verdicts.append(not errors)
        cells = " | ".join(f"{r.rps:.0f} / {r.p50_ms:.2f} / {r.p99_ms:.2f}" for r in results.values())
        added = " / ".join(
            f"{statistics.median(r[t].p50_ms - r['direct'].p50_ms for r in rounds):+.2f}"
            for t in ("nginx", "httpx", "gateway")
        )
        cpu = " / ".join(f"{r.cpu_ms:.2f}" for r in results.values())
        lines.append(f"| {name}{note} | {cells} | {added} ms | {cpu} |")
    lines += [
        "",
        f"Ceiling: the real backends warm, two requests at a time, against the gateway to the fake backend with "
        f"wrk -c{args.ceiling_concurrency} (medians over the rounds):",
        "",
        "| request | real backend requests/s | gateway requests/s / p50 ms | gateway CPU ms/request "
        "| gateway / this real backend |",
        "|---|---|---|---|---|",
    ]
    for name, rounds in ceiling.items():
        real_rate = statistics.median(r[0] for r in rounds)
        through = median_result([r[1] for r in rounds])
        note = f" ({through.errors} non-2xx!)" if through.errors else ""
        verdicts.append(not through.errors)
        backend = "ASR, tiny.en" if "transcription" in name else "TTS, Piper"
        ratio = statistics.median(r[1].rps / r[0] for r in rounds)
        lines.append(f"| {name}{note} | {real_rate:.2f} ({backend}) | {through.rps:.0f} / {through.p50_ms:.2f} "
                     f"| {through.cpu_ms:.2f} | {ratio:.0f}x |")  # fmt: skip
    lines += [
        "",
        f"The {args.upload_mb} MB uploads took {streamed[1]:.1f} s (streamed: fields before the file) and "
        f"{spooled[1]:.1f} s (spooled: file before the fields).",
    ]
    return "\n".join(lines), all(verdicts)


if __name__ == "__main__":
    main()
