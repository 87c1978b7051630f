"""Text to speech: Wyoming ``synthesize`` as a streamed ``POST /v1/audio/speech``, and streaming
input (``synthesize-start``, ``synthesize-chunk``s, ``synthesize-stop``) spoken sentence by sentence.

Audio is the API's ``pcm`` (24 kHz 16-bit mono) for every request, so a client that takes the
format from the first ``audio-start`` (Home Assistant writes its WAV header from it) plays every
piece right. Audio chunks go out as the gateway streams them, while the text is still being
synthesized. With streaming input, a sentence is spoken once the client's text shows where it
ends (``sentence-stream``, the detector Home Assistant's Piper server uses), so the first sentence
is heard while the rest is still being written; the sentences that completed while one was being
spoken go to the API together, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sentence_stream import SentenceBoundaryDetector
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.tts import SynthesizeVoice

from wyoming_server.catalog import Listings
from wyoming_server.gateway import Gateway

log = logging.getLogger(__name__)

RATE, WIDTH, CHANNELS = 24000, 2, 1  # the API's response_format "pcm"
CHUNK_BYTES = 1024 * WIDTH  # 1024 samples per audio-chunk, as wyoming-piper sends them

Send = Callable[[Event], Awaitable[None]]


class Speaker:
    """Speaks text through the gateway, sending Wyoming audio events as the audio arrives."""

    def __init__(self, gateway: Gateway, listings: Listings, send: Send) -> None:
        self._gateway = gateway
        self._listings = listings
        self._send = send

    async def speak(self, text: str, voice: SynthesizeVoice | None) -> None:
        """audio-start, audio-chunks as they are synthesized, audio-stop (no chunks for blank text,
        which the API would refuse: a client waiting for audio-stop gets it)."""
        if not text.strip():
            await self._send(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())
            await self._send(AudioStop().event())
            return
        body = await self._request(text, voice)
        async with self._gateway.speech(body) as audio:
            await self._send(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())
            held = b""  # half a sample, completed by the next block
            async for block in audio:
                data = held + block
                usable = len(data) - len(data) % (WIDTH * CHANNELS)
                held = data[usable:]
                for start in range(0, usable, CHUNK_BYTES):
                    chunk = data[start : min(start + CHUNK_BYTES, usable)]
                    await self._send(AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=chunk).event())
            await self._send(AudioStop().event())

    async def _request(self, text: str, voice: SynthesizeVoice | None) -> dict[str, Any]:
        """The speech request: ``speaker``, else ``name``, is a voice the API lists (refused
        otherwise); none means the API's default voice. ``language`` goes to the API as given."""
        wanted = (voice.speaker or voice.name) if voice is not None else None
        name = (await self._listings.voice(wanted)).name if wanted else (await self._listings.current()).default_voice
        body: dict[str, Any] = {"model": "tts-1", "input": text, "voice": name, "response_format": "pcm"}
        if voice is not None and voice.language:
            body["language"] = voice.language
        return body


class SpeechStream:
    """One streaming synthesis: text in with ``add``, sentences spoken in order by a task of its own."""

    def __init__(self, speaker: Speaker, voice: SynthesizeVoice | None) -> None:
        self._speaker = speaker
        self._voice = voice
        self._sentences = SentenceBoundaryDetector()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._speak())

    def add(self, text: str) -> None:
        for sentence in self._sentences.add_chunk(text):
            self._queue.put_nowait(sentence)

    async def finish(self) -> None:
        """The rest of the text, then wait until everything is spoken (its failure raised)."""
        if rest := self._sentences.finish():
            self._queue.put_nowait(rest)
        self._queue.put_nowait(None)
        await self.task

    async def cancel(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _speak(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if text := " ".join(sentence for sentence in batch if sentence):
                await self._speaker.speak(text, self._voice)
            if None in batch:
                return
