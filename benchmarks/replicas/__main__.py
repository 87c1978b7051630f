"""``python -m benchmarks.replicas``: two ASR replicas behind the gateway against one, on the same cores.

The same 16 clips (the 8 test sentences spoken by Piper, ~2.5-3.3 s each, every one twice) sent
through the gateway at concurrency 4 to:

- one replica: one ASR service with ``CPU_THREADS=2`` (one inference at a time, CTranslate2 using
  two threads for it);
- two replicas: two ASR services with ``CPU_THREADS=1`` each, both in the gateway's
  ``ASR_BASE_URL`` (two inferences at a time, one thread each).

Both setups run side by side (a gateway each, tiny.en kept loaded, ``OMP_WAIT_POLICY=PASSIVE`` so
idle threads do not spin) and are measured in interleaved rounds, alternating which goes first, so
the load other processes put on the machine hits both alike. Each pass checks every transcript
(word error rate at most 0.2). Reported: requests per second (16 / the pass's wall time, median
over the rounds), p50 and p95 latency (over every request of every round), the ratio to one
replica, and how the requests were spread over the replicas (their own access lines).

Target: two replicas at least 1.3x the throughput of one.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fixtures import asr_models
from fixtures.load import audio_seconds
from fixtures.servers import Server, free_port, run_service
from fixtures.speech import MORE_SENTENCES, SENTENCES, speech_file
from fixtures.wer import word_error_rate

TARGET = 1.3
MAX_WER = 0.2
ACCESS_LINE = re.compile(r'access: "POST /v1/audio/transcriptions" 200 ')


@dataclass
class Setup:
    name: str
    gateway: Server
    replicas: list[Server]
    rates: list[float] = field(default_factory=list)  # requests per second, one per round
    latencies: list[float] = field(default_factory=list)  # seconds, every request of every round

    def served(self) -> list[int]:
        """Transcriptions each replica answered so far (its access lines)."""
        return [len(ACCESS_LINE.findall(replica.log())) for replica in self.replicas]


@contextmanager
def setup(name: str, threads: list[int], token: str, tmp: Path) -> Iterator[Setup]:
    """ASR services with these CPU_THREADS, and a gateway in front of all of them."""
    asr_env = {"WHISPERX_MODEL": asr_models.tiny_en_path(), "DEVICE": "cpu", "MODEL_TTL_SECONDS": "3600",
               "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "BACKEND_TOKEN": token}  # fmt: skip
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(run_service("asr", {**asr_env, "CPU_THREADS": str(n)}, tmp_dir=tmp, timeout=120))
            for n in threads
        ]
        gateway_env = {
            "ASR_BASE_URL": ",".join(replica.url for replica in replicas),
            "TTS_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nothing there: only transcriptions are sent
            "BACKEND_TOKEN": token,
            "LOG_LEVEL": "warning",
        }
        gateway = stack.enter_context(run_service("gateway", gateway_env, tmp_dir=tmp))
        yield Setup(name, gateway, replicas)


def transcribe(client: httpx.Client, url: str, clip: tuple[str, bytes]) -> float:
    text, audio = clip
    started = time.perf_counter()
    response = client.post(
        f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("clip.wav", audio)}
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    wer = word_error_rate(text, response.json()["text"])
    if wer > MAX_WER:
        raise RuntimeError(f"WER {wer:.2f} for {text!r}: {response.json()['text']!r}")
    return elapsed


def run_pass(target: Setup, clips: list[tuple[str, bytes]], concurrency: int, record: bool) -> None:
    with httpx.Client(timeout=600) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        latencies = list(pool.map(lambda clip: transcribe(client, target.gateway.url, clip), clips))
        wall = time.perf_counter() - started
    if record:
        target.rates.append(len(clips) / wall)
        target.latencies.extend(latencies)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed passes per setup")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    sentences = list(SENTENCES + MORE_SENTENCES)
    clips = [(text, speech_file(text, "wav").read_bytes()) for text in sentences * 2]
    token = secrets.token_hex(32)
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        one = stack.enter_context(setup("one replica, CPU_THREADS=2", [2], token, Path(tmp)))
        two = stack.enter_context(setup("two replicas, CPU_THREADS=1 each", [1, 1], token, Path(tmp)))
        for target in (one, two):  # loads the models (kept for the whole run) and warms every path
            run_pass(target, clips, args.concurrency, record=False)
        before = {target.name: target.served() for target in (one, two)}
        for round_ in range(args.rounds):
            for target in (one, two) if round_ % 2 == 0 else (two, one):
                run_pass(target, clips, args.concurrency, record=True)
        spread = {
            target.name: [n - m for n, m in zip(target.served(), before[target.name], strict=True)]
            for target in (one, two)
        }
    print(f"load after: {load()}")
    baseline = statistics.median(one.rates)
    seconds = [audio_seconds(audio) for _, audio in clips]
    print(f"{len(clips)} clips ({len(sentences)} sentences x 2, Piper, {min(seconds):.1f}-{max(seconds):.1f} s each) "
          f"at concurrency {args.concurrency}, "
          f"{args.rounds} interleaved rounds; tiny.en int8 on the CPU ({os.cpu_count()} cores)\n")  # fmt: skip
    print("| ASR behind the gateway | requests/s | ratio | p50 [s] | p95 [s] | requests per replica |")
    print("|---|---|---|---|---|---|")
    for target in (one, two):
        rate = statistics.median(target.rates)
        ratio = f"**{rate / baseline:.2f}**" if target is two else "1.00"
        cuts = statistics.quantiles(target.latencies, n=20, method="inclusive")
        p50, p95 = cuts[9], cuts[18]
        per_replica = " / ".join(str(n) for n in spread[target.name])
        print(f"| {target.name} | {rate:.2f} | {ratio} | {p50:.2f} | {p95:.2f} | {per_replica} |")
    print(f"rounds [req/s]: {', '.join(f'{t.name}={[round(r, 2) for r in t.rates]}' for t in (one, two))}")
    ratio = statistics.median(two.rates) / baseline
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"two replicas give {ratio:.2f}x the throughput of one: {verdict} the target of {TARGET}x")


if __name__ == "__main__":
    main()
