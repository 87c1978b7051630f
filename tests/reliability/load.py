"""Real requests for the stack tests and the soak: what to send, and whether the answer is right."""

from __future__ import annotations

import atexit
import functools
import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import numpy as np

from tests.fixtures.speech import SENTENCE, speech_file

WORDS = re.compile(r"[a-z']+")
SPEECH = {"model": "tts-1", "input": "The garden needs more water in the summer.", "voice": "alloy",
          "response_format": "wav"}  # fmt: skip


def long_input(sentences: int) -> str:
    """Text Piper needs a while for (roughly a quarter of a second per sentence on a free core)."""
    return " ".join(f"Sentence number {n} is here to keep the synthesizer busy for a while." for n in range(sentences))


LONG_INPUT = long_input(40)


def words(text: str) -> list[str]:
    return WORDS.findall(text.lower())


def transcription_is_right(text: str, expected: str = SENTENCE) -> bool:
    said, heard = words(expected), words(text)
    return sum(w in heard for w in said) >= 0.8 * len(said)


def transcribe(client: httpx.Client, url: str, clip: Path | None = None, **fields: str) -> httpx.Response:
    clip = clip or speech_file(SENTENCE, "mp3")
    data = {"model": "whisper-1", "language": "en", **fields}
    return client.post(f"{url}/v1/audio/transcriptions", data=data, files={"file": (clip.name, clip.read_bytes())})


def synthesize(client: httpx.Client, url: str, **fields: object) -> httpx.Response:
    """Speech as one body (``stream: false``): its status tells how the whole synthesis went."""
    return client.post(f"{url}/v1/audio/speech", json={**SPEECH, "stream": False, **fields})


def audio_seconds(data: bytes) -> float:
    """Decoded length of an audio file (any container ffmpeg reads); 0 when it does not decode."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            samples = sum(frame.samples for frame in container.decode(audio=0))
            return samples / container.streams.audio[0].rate
    except av.error.FFmpegError:
        return 0.0


def audible(data: bytes) -> bool:
    import av

    with av.open(io.BytesIO(data)) as container:
        peak = max(float(np.abs(frame.to_ndarray()).max()) for frame in container.decode(audio=0))
    return peak > 0


@functools.cache
def silence_bomb(hours: float = 2.0) -> Path:
    """Hours of silence in a few kB of FLAC (32768-sample constant frames): a decompression bomb."""
    directory = tempfile.mkdtemp(prefix="bomb-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "silence.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(int(hours * 3600)),
         "-c:a", "flac", "-frame_size", "32768", str(path)],
        check=True,
    )  # fmt: skip
    return path
