"""A Wyoming client for the tests: the ``wyoming`` library's own TCP client, as Home Assistant uses it.

await describe(port)                                -> Info
await transcribe(port, pcm, rate=16000, channels=1, language="en") -> the events after audio-stop
await synthesize(port, "Hello.", voice=SynthesizeVoice(name="alloy")) -> the events answering it
pcm_of(samples, rate, to_rate, channels)            -> s16le bytes, channels interleaved
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

TIMEOUT = 120  # a model's first load on a busy 2-core machine
ENDS = ("transcript-stop", "audio-stop", "synthesize-stopped", "error")


def connect(port: int) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", port, connect_timeout=10, read_timeout=TIMEOUT)


async def read_until(client: AsyncTcpClient, ends: Iterable[str] = ENDS) -> list[Event]:
    """Events up to the first of ``ends`` (included); the connection must stay open until then."""
    events: list[Event] = []
    while True:
        event = await client.read_event()
        assert event is not None, f"the server closed the connection after {[e.type for e in events]}"
        events.append(event)
        if event.type in ends:
            return events


async def describe(port: int) -> Info:
    async with connect(port) as client:
        await client.write_event(Describe().event())
        (info,) = await read_until(client, ("info", "error"))
        assert info.type == "info", info
        return Info.from_event(info)


def pcm_of(samples: np.ndarray, rate: int, to_rate: int, channels: int = 1) -> bytes:
    """Float mono samples as 16-bit PCM at ``to_rate``, the same signal on each of ``channels``."""
    import av

    frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16",
                                       layout="mono")  # fmt: skip
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    mono = np.concatenate([f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]])
    return np.repeat(mono, channels).astype("<i2").tobytes()


async def transcribe(
    port: int, pcm: bytes, *, rate: int = 16000, channels: int = 1, language: str | None = "en", chunk_ms: int = 100
) -> list[Event]:
    """Send ``pcm`` as Home Assistant does (transcribe, audio-start, chunks, audio-stop), as fast as
    the socket takes it; the events that follow, up to transcript-stop (or an error)."""
    client = connect(port)
    await client.connect()
    try:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        step = rate * 2 * channels * chunk_ms // 1000
        for offset in range(0, len(pcm), step):
            chunk = AudioChunk(rate=rate, width=2, channels=channels, audio=pcm[offset : offset + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
    except ConnectionError:
        pass  # the server answered with an error and closed: it is read below
    try:
        return await read_until(client)
    finally:
        with contextlib.suppress(ConnectionError):
            await client.disconnect()


async def synthesize(port: int, text: str, voice: SynthesizeVoice | None = None) -> list[Event]:
    async with connect(port) as client:
        await client.write_event(Synthesize(text=text, voice=voice).event())
        return await read_until(client)


def audio_of(events: list[Event]) -> bytes:
    """The audio the events carry; every audio-start and chunk in the API's pcm format (24 kHz mono s16le)."""
    audio = [event for event in events if event.type in ("audio-start", "audio-chunk")]
    formats = {(event.data["rate"], event.data["width"], event.data["channels"]) for event in audio}
    assert formats == {(24000, 2, 1)}, formats
    return b"".join(AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk")
