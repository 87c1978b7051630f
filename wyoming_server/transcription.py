"""Speech to text: one Wyoming transcription (``transcribe``, ``audio-start``, ``audio-chunk``s,
``audio-stop``) as a realtime transcription session of the gateway, fed while the audio arrives.

The audio, in whatever rate, width and channels the client sends, becomes the session's 24 kHz
16-bit mono PCM (the ``wyoming`` library's converter) and is appended as it comes. The session
runs server VAD only to know when the speaker has paused: its silence is long enough that the
client (Home Assistant, with a VAD of its own) ends the command first, with ``audio-stop``, which
commits the turn. Meanwhile the ASR service transcribes the growing turn, and again as soon as the
speaker falls silent; when nothing but silence followed that pass, it is the transcript, so the
transcript is ready about when the audio stops. Words the passes agree on come early as
``transcript-chunk``s. Turns the session ends by itself (a pause of a minute, or MAX_AUDIO_SECONDS)
are joined in order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioChunkConverter
from wyoming.event import Event

from wyoming_server.gateway import Failure, Gateway

log = logging.getLogger(__name__)

RATE, WIDTH, CHANNELS = 24000, 2, 1  # the realtime API's audio/pcm
APPEND_BYTES = RATE * WIDTH // 20  # 50 ms per append: the VAD hears the end of speech at most this late
# Longest silence server VAD accepts (OpenAI's limit): the client, not the session, ends the turn.
TURN_SILENCE_MS = 60_000
EMPTY_COMMIT = "input_audio_buffer_commit_empty"

Send = Callable[[Event], Awaitable[None]]


def whisper_language(language: str | None) -> str | None:
    """A Whisper language code for a client's language (``en``, ``en-US``, ``en_US``)."""
    if not language or not language.strip():
        return None
    return language.strip().replace("_", "-").split("-")[0].lower()


class Transcription:
    """One transcription on its own realtime session; ``open`` first, ``close`` always."""

    def __init__(self, gateway: Gateway, send: Send, *, model: str | None, language: str | None) -> None:
        self._gateway = gateway
        self._send = send
        self._model = model or "whisper-1"
        self.language = language
        self._stack = contextlib.AsyncExitStack()
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=CHANNELS)
        self._pending = bytearray()
        self._items: list[str] = []  # committed turns, in order
        self._transcripts: dict[str, str] = {}
        self._failure: Failure | None = None
        self._confirmed = False  # the session has answered every event sent before audio-stop
        self._changed = asyncio.Event()
        self._streaming: str | None = None  # the turn whose words were last sent as transcript-chunks
        self._started = False  # transcript-start sent

    async def open(self) -> None:
        self._socket = await self._stack.enter_async_context(self._gateway.realtime())
        await self._expect("session.created")
        vad = {"type": "server_vad", "silence_duration_ms": TURN_SILENCE_MS}
        transcription = {"model": self._model, "language": whisper_language(self.language)}
        audio = {"format": {"type": "audio/pcm", "rate": RATE}, "transcription": transcription, "turn_detection": vad}
        await self._call({"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio}}})
        await self._expect("session.updated")
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._stack.aclose()

    async def audio(self, chunk: AudioChunk) -> None:
        self._pending += self._converter.convert(chunk).audio
        if len(self._pending) >= APPEND_BYTES:
            await self._flush()

    async def finish(self) -> str:
        """Commit what is left at audio-stop; the whole transcript once every turn is transcribed
        ("" when no audio came: the session was never opened)."""
        if self._socket is None:
            return ""
        await self._flush()
        await self._call({"type": "input_audio_buffer.commit"})
        # The session answers events in order: once this no-op update is answered, every turn
        # committed before it is known.
        await self._call({"type": "session.update", "session": {"type": "transcription"}})
        try:
            async with asyncio.timeout(self._gateway.read_timeout):
                while not self._done():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise self._gateway.timed_out() from None
        if self._failure is not None:
            raise self._failure
        return " ".join(text for item in self._items if (text := self._transcripts[item].strip()))

    async def stream_end(self, text: str) -> None:
        """The end of the transcript's events: transcript-start if no words came yet, transcript, transcript-stop."""
        await self._start_stream()
        await self._send(Transcript(text=text, language=self.language).event())
        await self._send(TranscriptStop().event())

    # -- the session ---------------------------------------------------------------------------
    def _done(self) -> bool:
        if self._failure is not None:
            return True
        return self._confirmed and all(item in self._transcripts for item in self._items)

    async def _flush(self) -> None:
        if self._pending:
            audio = base64.b64encode(self._pending).decode()
            self._pending.clear()
            await self._call({"type": "input_audio_buffer.append", "audio": audio})

    async def _call(self, event: dict[str, Any]) -> None:
        assert self._socket is not None
        try:
            await self._socket.send(json.dumps(event))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _closed(self, exc: ConnectionClosed) -> Failure:
        reason = exc.rcvd.reason if exc.rcvd is not None and exc.rcvd.reason else "no reason given"
        return Failure(f"The transcription session ended before its transcript ({reason}).", "session_closed")

    async def _receive(self, timeout: float | None) -> dict[str, Any]:
        assert self._socket is not None
        try:
            async with asyncio.timeout(timeout):
                return json.loads(await self._socket.recv())
        except TimeoutError:
            raise self._gateway.timed_out() from None
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def _expect(self, kind: str) -> None:
        event = await self._receive(self._gateway.read_timeout)
        if event["type"] == "error":
            error = event["error"]
            raise Failure(error["message"], error.get("code") or error.get("type") or "error")
        if event["type"] != kind:
            raise Failure(f"The transcription session sent {event['type']!r} where {kind!r} was due.", "protocol")

    async def _read(self) -> None:
        try:
            while True:
                await self._handle(await self._receive(None))  # finish() bounds the wait for the transcript
                self._changed.set()
        except Failure as exc:
            self._failure = exc
            self._changed.set()

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "input_audio_buffer.committed":
            self._items.append(event["item_id"])
        elif kind == "conversation.item.input_audio_transcription.delta":
            await self._chunk(event["item_id"], event["delta"])
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._transcripts[event["item_id"]] = event["transcript"]
        elif kind == "conversation.item.input_audio_transcription.failed":
            error = event["error"]
            self._failure = Failure(error["message"], error.get("code") or "transcription_failed")
        elif kind == "session.updated":
            self._confirmed = True
        elif kind == "error" and event["error"].get("code") != EMPTY_COMMIT:  # nothing left to commit is fine
            log.warning("realtime session error: %s", event["error"].get("message"))

    async def _start_stream(self) -> None:
        if not self._started:
            self._started = True
            await self._send(TranscriptStart(language=self.language).event())

    async def _chunk(self, item: str, delta: str) -> None:
        """A turn's new words as a transcript-chunk; a later turn's first words after a space."""
        await self._start_stream()
        if self._streaming is not None and self._streaming != item and not delta[:1].isspace():
            delta = " " + delta
        self._streaming = item
        await self._send(TranscriptChunk(text=delta).event())
