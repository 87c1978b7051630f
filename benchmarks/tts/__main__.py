"""TTS benchmark, one command: ``python -m benchmarks.tts [--repeat N] [--engines coqui,piper]``.

On the tiny random XTTS checkpoint (fixtures/tiny_xtts.py; its audio is noise but every
code path is real) and on the embedded Piper voice, through a real service on loopback:

1. time to first byte vs total time for a 10-sentence input, with and without ``stream=true``;
2. encoder overhead per response_format relative to wav, in process (ms of CPU per second of
   audio, whole and streamed) and end to end (total request time minus the wav request's).

Prints a Markdown report for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from common.api_types import SPEECH_FORMATS
from coqui_tts.encode import AudioEncoder
from fixtures.servers import Server, run_service
from fixtures.tiny_xtts import build_tiny_xtts

TEN_SENTENCES = " ".join(
    f"This is sentence number {word}, spoken to measure streaming."
    for word in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
)


def timed_request(server: Server, fields: dict[str, object]) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, body bytes)."""
    body = {"model": "tts-1", "voice": "alloy", "input": TEN_SENTENCES, **fields}
    started = time.perf_counter()
    first = 0.0
    size = 0
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if chunk and not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size


def median_of(server: Server, fields: dict[str, object], repeat: int) -> tuple[float, float, int]:
    runs = [timed_request(server, fields) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0][2])


def streaming_rows(engine: str, server: Server, repeat: int) -> list[str]:
    rows = []
    for stream in (False, True):
        first, total, _ = median_of(server, {"response_format": "mp3", "stream": stream}, repeat)
        rows.append(f"| {engine} | mp3 | {str(stream).lower()} | {first:.2f} | {total:.2f} | {first / total:.0%} |")
    return rows


def end_to_end_format_rows(engine: str, server: Server, repeat: int) -> list[str]:
    totals = {fmt: median_of(server, {"response_format": fmt}, repeat)[1:] for fmt in SPEECH_FORMATS}
    wav_total = totals["wav"][0]
    return [
        f"| {engine} | {fmt} | {total:.2f} | {total - wav_total:+.2f} | {size / 1024:.0f} |"
        for fmt, (total, size) in totals.items()
    ]


def encoder_rows(seconds: float = 60.0, rate: int = 24_000, chunk: int = 4096) -> list[str]:
    """CPU cost of encoding ``seconds`` of noise-like audio, per format, whole and streamed."""
    rng = np.random.default_rng(0)
    pcm = (0.2 * rng.standard_normal(int(seconds * rate))).astype(np.float32)

    def cost(fmt: str, streaming: bool) -> float:
        started = time.process_time()
        encoder = AudioEncoder(fmt, rate, streaming=streaming)
        for start in range(0, len(pcm), chunk):
            encoder.feed(pcm[start : start + chunk])
        encoder.close()
        return (time.process_time() - started) * 1000 / seconds

    costs = {fmt: (cost(fmt, False), cost(fmt, True)) for fmt in SPEECH_FORMATS}
    wav = costs["wav"][0]
    return [
        f"| {fmt} | {whole:.1f} | {streamed:.1f} | {whole - wav:+.1f} |" for fmt, (whole, streamed) in costs.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="requests per measurement (median)")
    parser.add_argument("--engines", default="coqui,piper", help="comma-separated: coqui, piper")
    args = parser.parse_args()

    streaming, formats = [], []
    with tempfile.TemporaryDirectory(prefix="tts-bench-") as tmp:
        root = Path(tmp)
        envs = {
            "coqui": {"TTS_ENGINE": "coqui", "COQUI_MODEL": str(build_tiny_xtts(root / "tiny-xtts"))},
            "piper": {"TTS_ENGINE": "piper"},
        }
        for engine in args.engines.split(","):
            env = {**envs[engine], "MODEL_TTL_SECONDS": "600", "STREAM_CHUNK_TOKENS": "8", "LOG_LEVEL": "warning"}
            with run_service("coqui_tts", env, tmp_dir=root, timeout=120) as server:
                timed_request(server, {"response_format": "wav"})  # load the model and warm up
                streaming += streaming_rows(engine, server, args.repeat)
                formats += end_to_end_format_rows(engine, server, args.repeat)

    print("Time to first byte vs total, 10 sentences (seconds, median of", args.repeat, "runs):\n")
    print("| engine | format | stream | first byte | total | first/total |\n|---|---|---|---|---|---|")
    print("\n".join(streaming))
    print("\nEnd to end per format, 10 sentences, not streamed (seconds; delta vs wav):\n")
    print("| engine | format | total | vs wav | KiB |\n|---|---|---|---|---|")
    print("\n".join(formats))
    print("\nEncoder CPU, in process (ms per second of 24 kHz mono audio; delta vs wav, whole):\n")
    print("| format | whole | streamed | vs wav |\n|---|---|---|---|")
    print("\n".join(encoder_rows()))


if __name__ == "__main__":
    main()
