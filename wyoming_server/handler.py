"""One Wyoming client connection: its events dispatched to describe, transcription and synthesis.

A request that fails answers with an ``error`` event (the API's message) and the connection is
closed, so a client waiting for a transcript or for ``audio-stop`` / ``synthesize-stopped`` is
never left waiting. The close lingers: the client's side ends first, and what it had already sent
is read and dropped until it closes (or ``LINGER_SECONDS`` pass), because closing on unread input
resets the connection and the client could lose the error event. Work still running when the
client goes (a transcription session, a speech stream) is stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from wyoming_server.catalog import Listings
from wyoming_server.gateway import Failure, Gateway
from wyoming_server.settings import Settings
from wyoming_server.speech import Speaker, SpeechStream
from wyoming_server.transcription import Transcription

LINGER_SECONDS = 2.0

log = logging.getLogger(__name__)


def failure_of(exc: BaseException, what: str) -> Failure:
    """What the client is told about ``exc`` (logged here)."""
    if isinstance(exc, Failure):
        log.info("%s failed: %s (%s)", what, exc.message, exc.code)
        return exc
    log.error("%s failed", what, exc_info=exc)
    return Failure(f"The Wyoming server failed ({type(exc).__name__}); see its log.", "internal_error")


class Handler(AsyncEventHandler):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        settings: Settings,
        gateway: Gateway,
        listings: Listings,
    ) -> None:
        super().__init__(reader, writer)
        self._settings = settings
        self._gateway = gateway
        self._listings = listings
        self._speaker = Speaker(gateway, listings, self.write_event)
        self._transcribe = Transcribe()
        self._transcription: Transcription | None = None
        self._stream: SpeechStream | None = None
        self._aborting: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    async def handle_event(self, event: Event) -> bool:
        if self._closing is not None:
            return True  # sent before the client read the error: dropped
        try:
            await self._dispatch(event)
        except ConnectionError:
            return False  # the client has gone
        except Exception as exc:
            await self._fail(failure_of(exc, event.type))
        return True

    async def disconnect(self) -> None:
        if self._closing is not None:
            self._closing.cancel()
        await self._end_transcription()
        if self._stream is not None:
            await self._stream.cancel()

    async def _fail(self, failure: Failure) -> None:
        """The error event, then the lingering close (see the module's docstring)."""
        with contextlib.suppress(ConnectionError, RuntimeError):  # the client has gone already
            await self.write_event(Error(text=failure.message, code=failure.code).event())
            self.writer.write_eof()
        self._closing = asyncio.create_task(self._close_after_linger())

    async def _close_after_linger(self) -> None:
        await asyncio.sleep(LINGER_SECONDS)
        await self.stop()

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            catalog = await self._listings.for_describe()
            await self.write_event(catalog.info(self._settings).event())
        elif Transcribe.is_type(event.type):
            self._transcribe = Transcribe.from_event(event)
        elif AudioStart.is_type(event.type):
            await self._start_transcription()
        elif AudioChunk.is_type(event.type):
            if self._transcription is None:  # a client that sends no audio-start
                await self._start_transcription()
            assert self._transcription is not None
            await self._transcription.audio(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._finish_transcription()
        elif Synthesize.is_type(event.type):
            if self._stream is None:  # in a stream it repeats the streamed text, for older servers
                synthesize = Synthesize.from_event(event)
                await self._speaker.speak(synthesize.text, synthesize.voice)
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(SynthesizeStart.from_event(event))
        elif SynthesizeChunk.is_type(event.type) and self._stream is not None:
            self._stream.add(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type) and self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.finish()
            await self.write_event(SynthesizeStopped().event())

    # -- speech to text -----------------------------------------------------------------------
    async def _start_transcription(self) -> None:
        await self._end_transcription()  # a new audio-start begins a new transcription
        self._transcription = self._new_transcription()
        await self._transcription.open()

    def _new_transcription(self) -> Transcription:
        return Transcription(
            self._gateway, self.write_event, model=self._transcribe.name, language=self._transcribe.language
        )

    async def _finish_transcription(self) -> None:
        transcription = self._transcription or self._new_transcription()  # never opened: nothing was said
        try:
            await transcription.stream_end(await transcription.finish())
        finally:
            await self._end_transcription()
            self._transcribe = Transcribe()

    async def _end_transcription(self) -> None:
        transcription, self._transcription = self._transcription, None
        if transcription is not None:
            await transcription.close()

    # -- streaming text to speech -------------------------------------------------------------
    async def _start_stream(self, start: SynthesizeStart) -> None:
        if self._stream is not None:
            await self._stream.cancel()
        stream = self._stream = SpeechStream(self._speaker, start.voice)
        stream.task.add_done_callback(lambda task: self._stream_ended(stream, task))

    def _stream_ended(self, stream: SpeechStream, task: asyncio.Task[None]) -> None:
        """A stream that fails while the client is still writing its text (before synthesize-stop,
        whose handling reports it otherwise) is answered at once, and the connection closed."""
        if stream is self._stream and not task.cancelled() and (exc := task.exception()) is not None:
            self._aborting = asyncio.create_task(self._fail(failure_of(exc, "streaming synthesis")))
