"""One realtime transcription session: the state behind one WebSocket.

Two tasks share it. The receiver reads client events in order: it decodes appended audio to
16 kHz into the input buffer and, with server VAD, scores it for speech; a turn ends on speech
stopped or on the client's commit. The worker transcribes: each committed turn is one job in the
service's ``ModelRuntime`` queue, through the same ``Pipeline`` as file transcriptions, so turns and
file requests take turns on the one inference slot.

Deltas come while the person is still speaking: after every ``REALTIME_DELTA_INTERVAL_SECONDS`` of
new speech the worker transcribes the growing turn again (a job like any other) and sends the
words at the start of the turn that this pass and the one before agree on, which are not taken
back later. When the speaker falls silent the worker transcribes the turn so far at once; if the
silence lasts until the turn ends (server VAD ends it, or the client commits during that
silence), only silence followed, so that pass is the turn's transcript and ``completed`` follows
without another pass. The final pass's words after those
already sent go out as the last deltas; ``completed`` carries the whole transcript, which is
exactly what the deltas said. With ``include: ["item.input_audio_transcription.logprobs"]`` each
delta carries the tokens of its words (from the pass its words come from) and ``completed`` all of
them.

With ``idle_timeout_ms`` (server VAD), audio in which no speech has started for that long is
committed as a turn of its own (``input_audio_buffer.timeout_triggered``, then ``committed``) and
transcribed like any other, usually to an empty transcript. Time is audio time, as for the VAD:
a client that stops sending audio triggers nothing. With ``noise_reduction`` the audio is
filtered (``asr.realtime.noise``) as it is decoded, before the VAD and the transcription.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from asr.audio import SAMPLE_RATE, SampleBuffer
from asr.logprobs import between, rendered
from asr.realtime import events
from asr.realtime.audio_input import InputDecoder, to_float
from asr.realtime.noise import NoiseReducer
from asr.realtime.vad import SAMPLES_PER_MS, SpeechScores, SpeechStarted, TurnDetector
from asr.settings import Settings
from asr.transcribe import TRANSCRIBED, Pipeline, Transcript, whisper_model
from common.errors import APIError, internal_error, invalid
from common.lifecycle import ModelRuntime
from common.realtime_config import SessionConfig, apply_update, ga_session, legacy_session
from common.resources import TokenLogprob

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100  # OpenAI refuses to commit less
PARTIAL_LIMIT_SECONDS = 30  # Whisper's window: longer turns get no more partial passes, only the final one
TAIL_HANGOVER_MS = 200  # silence after the last speech frame a pass includes before it counts as the turn's
GONE = (WebSocketDisconnect, WebSocketDisconnected)
TASK = "transcribe_realtime"  # how the metrics name the inference time of turns


@dataclass
class Pass:
    until: int  # session sample the transcribed audio ended at
    transcript: Transcript


@dataclass
class Turn:
    """One item: the audio of a turn and what has been said about it."""

    item_id: str
    start: int  # session sample its audio begins at (prefix padding included)
    passed_until: int = 0  # where the audio of the last pass started for it ended
    passed_at: float = 0.0  # when (time.monotonic) that pass started, or the turn did
    samples: np.ndarray | None = None  # once committed: its audio
    speech_end: int | None = None  # with server VAD: where the silence at its end began
    emitted: int = 0  # words sent as deltas
    text: str = ""  # what the deltas said: the transcript once the turn is complete
    logprobs: list[TokenLogprob] = field(default_factory=list)  # the deltas' tokens (when included)
    previous: list[str] | None = None  # the last pass's words
    last: Pass | None = None
    closed: bool = False  # committed or cleared: no more partial passes


def _normalized(word: str) -> str:
    return "".join(char for char in word.lower() if char.isalnum() or char == "'")


def agreed(previous: list[str], current: list[str]) -> int:
    """How many leading words two passes agree on (case and punctuation aside)."""
    count = 0
    for old, new in zip(previous, current, strict=False):
        if _normalized(old) != _normalized(new):
            break
        count += 1
    return count


def ms(sample: int) -> int:
    return sample // SAMPLES_PER_MS


def words_tokens(transcript: Transcript, first: int, last: int) -> list[TokenLogprob] | None:
    """The tokens of words [first, last) of the transcript, the space before them included
    (None unless logprobs were asked for); as a delta of those words spells them."""
    if transcript.token_logprobs is None:
        return None
    spans = [match.span() for match in re.finditer(r"\S+", transcript.text)]
    start = spans[first][0] - (1 if first else 0)
    return between(rendered(transcript.token_logprobs), start, spans[last - 1][1])


class RealtimeSession:
    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        runtime: ModelRuntime,
        *,
        legacy: bool,
        config: SessionConfig | None = None,
    ) -> None:
        self.websocket = websocket
        self.settings = settings
        self.runtime = runtime
        self.legacy = legacy  # a beta client: answer in the beta shapes
        self.id = events.new_id("sess")
        self.expires_at = int(time.time() + settings.realtime_max_session_seconds)
        self.config = config or SessionConfig()
        self.buffer = SampleBuffer(int(settings.max_audio_seconds * SAMPLE_RATE))
        self._decoder = InputDecoder(self.config.format)
        self._denoiser = NoiseReducer(self.config.noise_reduction) if self.config.noise_reduction else None
        self._idle_since = 0  # with server VAD: where audio with no speech in it began
        self._scores: SpeechScores | None = None
        self._detector: TurnDetector | None = None
        self._turn: Turn | None = None  # the turn being spoken (server VAD) or left open when VAD was turned off
        self._committed: collections.deque[Turn] = collections.deque()
        self._previous_item: str | None = None
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._set_turn_detection()

    # -- the connection -----------------------------------------------------------------------
    async def serve(self) -> None:
        """Run until the client goes or the session's time is up."""
        created = "transcription_session.created" if self.legacy else "session.created"
        try:
            await self._send(events.server_event(created, session=self._rendered(self.legacy)))
        except GONE:
            return
        async with asyncio.TaskGroup() as tasks:
            worker = tasks.create_task(self._work())
            try:
                async with asyncio.timeout(self.settings.realtime_max_session_seconds):
                    await self._receive()
            except TimeoutError:
                minutes = self.settings.realtime_max_session_seconds / 60
                await self._expire(f"The session reached its maximum duration of {minutes:g} minutes.")
            finally:
                worker.cancel()

    async def _expire(self, message: str) -> None:
        try:
            await self._send(events.error_event(APIError(400, message, code="session_expired")))
            await self.websocket.close(1000, "session expired")
        except GONE:
            pass

    async def _send(self, event: dict[str, Any]) -> None:
        # One sender at a time; awaiting the send is the backpressure on whoever produced the event.
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(event, ensure_ascii=False))

    def _rendered(self, legacy: bool) -> dict[str, Any]:
        render = legacy_session if legacy else ga_session
        return render(self.config, self.id, self.expires_at)

    # -- receiving ------------------------------------------------------------------------------
    async def _receive(self) -> None:
        handlers = {
            "session.update": self._update,
            "transcription_session.update": self._update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
        }
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                event = None
                try:
                    if message.get("text") is None:
                        raise APIError(
                            400, "Binary frames are not events: send each event as JSON text.", code="invalid_json"
                        )
                    event = events.decode_client_event(message["text"])
                    await handlers[events.check_client_event_type(event)](event)
                except APIError as exc:
                    await self._send(events.error_event(exc, events.client_event_id(event)))
        except GONE:
            return

    async def _update(self, event: dict[str, Any]) -> None:
        legacy = event["type"] == "transcription_session.update"
        self.config = apply_update(self.config, event.get("session"), legacy=legacy)
        if self.config.format != self._decoder.format:
            self._decoder = InputDecoder(self.config.format)
        if self.config.noise_reduction != (self._denoiser.kind if self._denoiser else None):
            self._denoiser = NoiseReducer(self.config.noise_reduction) if self.config.noise_reduction else None
        self._set_turn_detection()
        updated = "transcription_session.updated" if legacy else "session.updated"
        await self._send(events.server_event(updated, session=self._rendered(legacy)))

    def _set_turn_detection(self) -> None:
        vad = self.config.turn_detection
        if vad is None:
            self._detector = self._scores = None
        elif self._detector is None:
            self._detector = TurnDetector(vad, self.buffer.end)
            self._scores = SpeechScores()
        else:
            self._detector.configure(vad)

    async def _append(self, event: dict[str, Any]) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise APIError(
                400, "Missing required parameter: 'audio' (base64-encoded audio).", param="audio",
                code="missing_required_parameter",
            )  # fmt: skip
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("'audio' is not valid base64: send the audio bytes base64-encoded.", "audio") from None
        if not data:
            return
        samples, scores = await asyncio.to_thread(self._decode, data)
        if self._turn is None and self._detector is not None:  # between turns only recent audio matters
            self.buffer.drop(self.buffer.end + len(samples) - self.buffer.limit if self.buffer.limit else 0)
        if not self.buffer.fits(len(samples)) and self._turn is not None and self._detector is not None:
            # Someone has been speaking for MAX_AUDIO_SECONDS: end the turn here, so the session goes on.
            await self._end_turn(self.buffer.end, speech_end=None, stopped=False)
            self._detector.reset()
            cut = self._too_long("the turn was committed there")
            await self._send(events.error_event(cut, events.client_event_id(event)))
        if not self.buffer.fits(len(samples)):
            raise self._too_long("commit or clear the buffer")
        self.buffer.append(samples)
        if scores is not None and self._detector is not None:
            for change in self._detector.feed(scores):
                if isinstance(change, SpeechStarted):
                    await self._start_turn(change.at)
                else:
                    await self._end_turn(change.at, speech_end=change.speech_end, stopped=True)
            if self._turn is None:
                await self._idle()
        if self._pass_due() is not None:
            self._wake.set()

    async def _idle(self) -> None:
        """Between turns: keep the prefix padding, or with idle_timeout_ms the audio since the last
        turn, and commit that audio once it has lasted the timeout."""
        vad = self.config.turn_detection
        timeout = vad.idle_timeout_ms if vad is not None else None
        if timeout is None:
            self.buffer.drop(self.buffer.end - self._padding())
            return
        since = max(self._idle_since, self.buffer.start)
        if self.buffer.end - since < timeout * SAMPLES_PER_MS:
            return
        self._turn = Turn(events.new_id("item"), start=since)
        await self._send(
            events.server_event(
                "input_audio_buffer.timeout_triggered", audio_start_ms=ms(since), audio_end_ms=ms(self.buffer.end),
                item_id=self._turn.item_id,
            )
        )  # fmt: skip
        await self._end_turn(self.buffer.end, speech_end=None, stopped=False)

    def _decode(self, data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode an append, filter it (noise reduction) and score it for speech (server VAD); runs
        in a worker thread."""
        samples = self._decoder.decode(data)
        if self._denoiser is not None:
            samples = self._denoiser(samples)
        too_long = self.buffer.limit and len(samples) > self.buffer.limit
        scores = self._scores(to_float(samples)) if self._scores is not None and not too_long else None
        return samples, scores

    def _too_long(self, what_now: str) -> APIError:
        limit = self.settings.max_audio_seconds
        return invalid(
            f"The input audio buffer would hold more than the {limit:g} s this server accepts in one turn "
            f"(MAX_AUDIO_SECONDS); {what_now}.", "audio", "audio_too_long",
        )  # fmt: skip

    def _padding(self) -> int:
        vad = self.config.turn_detection
        return vad.prefix_padding_ms * SAMPLES_PER_MS if vad is not None else 0

    async def _start_turn(self, at: int) -> None:
        start = max(self.buffer.start, at - self._padding())
        self._turn = Turn(events.new_id("item"), start=start, passed_until=start, passed_at=time.monotonic())
        await self._send(
            events.server_event(
                "input_audio_buffer.speech_started", audio_start_ms=ms(start), item_id=self._turn.item_id
            )
        )

    async def _end_turn(self, until: int, *, speech_end: int | None, stopped: bool) -> None:
        """Commit the buffer up to ``until`` as a turn. ``speech_end``: where the silence at its end
        began, as server VAD heard it; ``stopped``: server VAD ended the turn (speech_stopped)."""
        turn = self._turn or Turn(events.new_id("item"), start=self.buffer.start)
        self._turn = None
        turn.closed = True
        turn.samples = to_float(self.buffer.slice(turn.start, until))
        turn.speech_end = speech_end
        self.buffer.drop(until)
        self._idle_since = until
        if stopped:
            await self._send(
                events.server_event("input_audio_buffer.speech_stopped", audio_end_ms=ms(until), item_id=turn.item_id)
            )
        await self._send(
            events.server_event(
                "input_audio_buffer.committed", previous_item_id=self._previous_item, item_id=turn.item_id
            )
        )
        self._previous_item = turn.item_id
        self._committed.append(turn)
        self._wake.set()

    async def _commit(self, _: dict[str, Any]) -> None:
        start = self._turn.start if self._turn is not None else self.buffer.start
        held_ms = (self.buffer.end - start) / SAMPLES_PER_MS
        if held_ms < MIN_COMMIT_MS:
            raise APIError(
                400,
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of "
                f"audio, but buffer only has {held_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        # Committed while server VAD hears silence after speech (a client with a VAD of its own,
        # e.g. Home Assistant): the pass made in that silence may be the transcript, as when VAD ends it.
        speech_end = None
        if self._detector is not None:
            speech_end = self._detector.silence_start if self._turn is not None else None
            self._detector.reset()
        await self._end_turn(self.buffer.end, speech_end=speech_end, stopped=False)

    async def _clear(self, _: dict[str, Any]) -> None:
        if self._turn is not None:
            self._turn.closed = True
            self._turn = None
        if self._detector is not None:
            self._detector.reset()
        self.buffer.clear()
        self._idle_since = self.buffer.end
        self._decoder = InputDecoder(self.config.format)  # and any half sample it was holding
        await self._send(events.server_event("input_audio_buffer.cleared"))

    # -- transcribing ---------------------------------------------------------------------------
    async def _work(self) -> None:
        try:
            await self._preload()
            while True:
                await self._wake.wait()
                self._wake.clear()
                while True:
                    if self._committed:
                        await self._finish(self._committed.popleft())
                    elif (turn := self._pass_due()) is not None:
                        await self._partial(turn)
                    else:
                        break
        except GONE:
            return

    async def _preload(self) -> None:
        """Load the model when the session opens, so the first turn does not wait for it."""
        try:
            async with self.runtime.session(task=TASK) as session:
                await whisper_model(self.settings, session)
        except APIError as exc:
            if exc.status == 429:
                log.info("realtime session %s: model not preloaded (%s)", self.id, exc.message)
                return  # the first turn loads it
            await self._send(events.error_event(exc))

    async def _transcribe(self, samples: np.ndarray) -> Transcript:
        """One job in the service's queue: the batch pipeline over the turn's audio."""
        queued = time.perf_counter()
        async with self.runtime.session(task=TASK) as session:
            started = time.perf_counter()
            pipeline = Pipeline(self.settings, session, self.config.params(), "transcribe")
            windows = pipeline.run_samples(samples)
            try:
                async for _ in windows:
                    pass
            finally:
                await windows.aclose()
        log.debug(
            "realtime session %s: %.2f s of audio transcribed in %.2f s (%.2f s waiting for the slot)",
            self.id, len(samples) / SAMPLE_RATE, time.perf_counter() - started, started - queued,
        )  # fmt: skip
        return pipeline.transcript

    def _pass_due(self) -> Turn | None:
        """The turn being spoken, if it is time to transcribe it again."""
        turn, detector = self._turn, self._detector
        interval = self.settings.realtime_delta_interval_seconds
        if turn is None or detector is None or interval <= 0:
            return None
        end = self.buffer.end
        if end - turn.start > PARTIAL_LIMIT_SECONDS * SAMPLE_RATE:
            return None
        if detector.silence_start is not None:  # the speaker may have stopped: transcribe it all now
            tail = detector.silence_start + self._hangover()
            return turn if end >= tail and turn.passed_until < tail else None
        # New speech worth a pass, that took a person at least as long to say (audio sent faster
        # than real time ends its turns before passes over it could show anything).
        fresh = end - turn.passed_until >= interval * SAMPLE_RATE
        return turn if fresh and time.monotonic() - turn.passed_at >= interval else None

    def _hangover(self) -> int:
        vad = self.config.turn_detection
        return min(TAIL_HANGOVER_MS, vad.silence_duration_ms if vad is not None else 0) * SAMPLES_PER_MS

    async def _partial(self, turn: Turn) -> None:
        until = self.buffer.end
        turn.passed_until, turn.passed_at = until, time.monotonic()
        if self.runtime.busy:
            return  # extra work: never make a committed turn or a file request wait for it
        try:
            transcript = await self._transcribe(to_float(self.buffer.slice(turn.start, until)))
        except APIError as exc:
            log.info("realtime session %s: partial pass skipped (%s)", self.id, exc.message)
            return  # deltas are best effort; the turn's own pass reports failures
        except Exception:
            log.exception("realtime session %s: partial pass failed", self.id)
            return
        turn.last = Pass(until, transcript)
        if turn.closed and turn.samples is None:
            return  # cleared meanwhile
        words = transcript.text.split()
        if turn.previous is not None and (count := agreed(turn.previous, words)) > turn.emitted:
            await self._delta(turn, words[turn.emitted : count], words_tokens(transcript, turn.emitted, count))
        turn.previous = words

    async def _finish(self, turn: Turn) -> None:
        assert turn.samples is not None
        last = turn.last
        try:
            if last is not None and turn.speech_end is not None and last.until >= turn.speech_end + self._hangover():
                transcript = last.transcript  # only silence came after the audio of this pass
            else:
                transcript = await self._transcribe(turn.samples)
        except APIError as exc:
            await self._send(events.failed_event(turn.item_id, exc))
            return
        except Exception as exc:
            log.exception("realtime session %s: transcription failed", self.id)
            await self._send(events.failed_event(turn.item_id, internal_error(exc)))
            return
        seconds = len(turn.samples) / SAMPLE_RATE
        TRANSCRIBED.inc(seconds)
        position = 0
        for segment in transcript.segments:  # a delta per segment, less what was sent while speaking
            words = segment["text"].split()
            skip = max(turn.emitted - position, 0)
            if words[skip:]:
                tokens = words_tokens(transcript, position + skip, position + len(words))
                await self._delta(turn, words[skip:], tokens)
            position += len(words)
        extra: dict[str, Any] = {}
        if self.config.languages:  # the one detected among them, as a file transcription reports it
            extra["languages"] = [{"code": transcript.language}]
        if self.config.logprobs:
            extra["logprobs"] = [t.model_dump() for t in turn.logprobs]
        await self._send(
            events.server_event(
                "conversation.item.input_audio_transcription.completed",
                item_id=turn.item_id,
                content_index=0,
                transcript=turn.text,
                **extra,
                usage={"type": "duration", "seconds": round(seconds, 3)},
            )
        )

    async def _delta(self, turn: Turn, words: list[str], tokens: list[TokenLogprob] | None) -> None:
        text = (" " if turn.emitted else "") + " ".join(words)
        turn.emitted += len(words)
        turn.text += text
        extra = {}
        if tokens is not None:
            turn.logprobs += tokens
            extra["logprobs"] = [t.model_dump() for t in tokens]
        await self._send(
            events.server_event(
                "conversation.item.input_audio_transcription.delta", item_id=turn.item_id, content_index=0, delta=text,
                **extra,
            )
        )  # fmt: skip
