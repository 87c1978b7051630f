"""A transcription/translation upload on its way to the ASR service.

The body is forwarded byte for byte, never held whole in memory, and validated before the ASR
service is contacted:

* fields before the file (OpenAI SDKs, browsers): the fields are validated as soon as the file
  part begins, then the body streams to the backend as it arrives;
* file before some fields (``curl -F file=@x -F model=...``): the rest of the body is spooled to
  an unnamed temporary file on disk until the form ends, everything is validated, then the spooled
  body is streamed; the file never has a name, so nothing is left behind whatever happens. A spooled body can
  be sent again, so a backend connection that fails before answering is retried once.

A text field that only arrives after a streamed file is validated when the form ends; if it is
invalid, the backend request is aborted before its body completes and the client gets the 400.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Literal

from starlette.requests import Request

from common.api_types import TranscriptionParams, parse_transcription_form
from common.disconnect import ClientGone
from common.errors import APIError
from common.multipart import FILE_FIELD, FormScanner, form_boundary, malformed, missing_file
from gateway.settings import Settings

SPOOL_WRITE_BYTES = 1024 * 1024  # disk writes are batched and done off the event loop


def too_large(limit: int) -> APIError:
    return APIError(413, f"The upload exceeds the limit of {limit} bytes (MAX_UPLOAD_BYTES).", code="request_too_large")


async def body_chunks(request: Request, stall_timeout: float) -> AsyncIterator[tuple[bytes, bool]]:
    """The request body as it arrives, as (chunk, more to come): 408 when the client pauses longer
    than ``stall_timeout``, ``ClientGone`` when it disconnects."""
    more = True
    while more:
        try:
            async with asyncio.timeout(stall_timeout):
                message = await request.receive()
        except TimeoutError:
            raise APIError(
                408,
                f"The request body stalled: nothing arrived for {stall_timeout:g} s (REQUEST_BODY_TIMEOUT_SECONDS).",
                code="request_timeout",
            ) from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        more = message.get("more_body", False)
        yield message.get("body", b""), more


class Upload:
    """Reads one multipart request: ``prepare()`` validates, ``body()`` yields the exact bytes.

    ``body_read`` is set once the client has nothing more to send.
    """

    def __init__(self, request: Request, settings: Settings, task: Literal["transcribe", "translate"]) -> None:
        self._limit = settings.max_upload_bytes
        self._length = _parse_length(request.headers.get("content-length"))
        if self._length is not None and self._length > self._limit:
            raise too_large(self._limit)
        self._content_type = request.headers.get("content-type", "")
        self._scanner = FormScanner(form_boundary(self._content_type), settings.max_form_field_bytes)
        self._chunks = body_chunks(request, settings.request_body_timeout_seconds)
        self._settings = settings
        self._task = task
        self._head: list[bytes] = []  # what arrived up to the start of the file part (small)
        self._received = 0
        self._more = True
        self._validated_version = -1
        self._spool: IO[bytes] | None = None
        self.streaming = False  # True: the body goes on as it arrives, so it cannot be sent twice
        self.body_read = asyncio.Event()
        self.params: TranscriptionParams | None = None

    async def prepare(self) -> TranscriptionParams:
        """Read until the request can be validated; raise APIError (400/413) if it is not valid."""
        head_cap = self._settings.max_form_field_bytes + 2 * self._settings.chunk_bytes
        head_bytes = 0
        while self._more:
            chunk = await self._read()
            self._head.append(chunk)
            head_bytes += len(chunk)
            if self._scanner.file_seen:
                break
            if head_bytes > head_cap:
                raise APIError(
                    413,
                    f"No '{FILE_FIELD}' part within the first {head_cap} bytes of the form (MAX_FORM_FIELD_BYTES).",
                    code="request_too_large",
                )
        if self._more and not self._scanner.complete:
            try:
                params = self._validate()
            except APIError:
                pass  # a field may still follow the file: decide when the form is complete
            else:
                self.streaming = True
                return params
        if self._more:  # (a form that arrived whole in its first chunks is held, like a spooled one)
            await self._spool_rest()
        return self._validate_complete()

    def headers(self) -> list[tuple[str, str]]:
        headers = [("content-type", self._content_type)]
        if not self.streaming:
            headers.append(("content-length", str(self._received)))
        elif self._length is not None:
            headers.append(("content-length", str(self._length)))
        return headers

    async def body(self) -> AsyncIterator[bytes]:
        """The client's exact bytes (a spooled body may be read again)."""
        if not self.streaming:
            for chunk in self._head:
                yield chunk
            self.body_read.set()
            if self._spool is not None:
                async for chunk in self._read_spool(self._spool):
                    yield chunk
            return
        # Streaming: the latest chunk is held back until the next one arrives, so the finished form
        # is checked before its last bytes go out (an invalid field after the file, a missing
        # closing boundary): the backend is left with an incomplete request, never a bad one.
        *ready, held = self._head
        self._head.clear()
        for chunk in ready:
            yield chunk
        while self._more:
            chunk = await self._read()
            if self._more:
                if held:
                    yield held
                held = chunk
            else:
                held += chunk
        self._validate_complete()
        self.body_read.set()
        if held:
            yield held

    async def aclose(self) -> None:
        await self._chunks.aclose()
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    async def _read(self) -> bytes:
        chunk, self._more = await anext(self._chunks)
        self._received += len(chunk)
        if self._received > self._limit:
            raise too_large(self._limit)
        self._scanner.feed(chunk)
        return chunk

    def _validate(self) -> TranscriptionParams:
        self.params = parse_transcription_form(self._scanner.fields, self._task)
        self._validated_version = self._scanner.fields_version
        return self.params

    def _validate_complete(self) -> TranscriptionParams:
        """The form has ended: it must be whole, valid and carry the file."""
        if not self._scanner.complete:
            raise malformed("the body ended before the closing boundary")
        params = self.params
        if params is None or self._scanner.fields_version != self._validated_version:
            params = self._validate()
        if not self._scanner.file_seen:
            raise missing_file()
        return params

    async def _spool_rest(self) -> None:
        # An unnamed file: nothing is left on disk, even if the process is killed.
        self._spool = spool = tempfile.TemporaryFile(prefix="gateway-upload-", dir=self._settings.spool_dir)  # noqa: SIM115
        pending = bytearray()
        while self._more:
            pending += await self._read()
            if len(pending) >= SPOOL_WRITE_BYTES:
                await asyncio.to_thread(spool.write, pending)
                pending = bytearray()
        if pending:
            await asyncio.to_thread(spool.write, pending)

    async def _read_spool(self, spool: IO[bytes]) -> AsyncIterator[bytes]:
        size = self._settings.chunk_bytes
        await asyncio.to_thread(spool.seek, 0)  # from the start again for a retry
        while chunk := await asyncio.to_thread(spool.read, size):
            yield chunk


def _parse_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise APIError(400, "Invalid Content-Length header.", code="invalid_request") from None
