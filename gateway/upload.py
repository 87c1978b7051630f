"""A transcription/translation upload on its way to the ASR service.

The body is forwarded byte for byte, never held whole in memory, and validated before the ASR
service is contacted:

* fields before the file (OpenAI SDKs, browsers): the fields are validated as soon as the file
  part begins, then the body streams to the backend as it arrives;
* file before some fields (``curl -F file=@x -F model=...``): the rest of the body is spooled to
  a temporary file on disk until the form ends, everything is validated, then the spooled body
  is streamed; the file is deleted when the request ends, whatever happens.

A text field that only arrives after a streamed file is validated when the form ends; if it is
invalid, the backend request is aborted before its body completes and the client gets the 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Literal

from starlette.types import Message, Receive, Scope

from common.api_types import TranscriptionParams, parse_transcription_form
from common.errors import APIError
from gateway.backends import ClientWatch
from gateway.multipart import FILE_FIELD, FormScanner, form_boundary, malformed
from gateway.settings import Settings

SPOOL_WRITE_BYTES = 1024 * 1024  # disk writes are batched and done off the event loop


class ClientGone(Exception):
    """The client disconnected while sending its upload."""


class BodyReader:
    """The request's next messages: 408 when the client stalls, ClientGone when it has left.

    One timer per request, re-armed from the start of the pending receive when it fires, rather
    than an ``asyncio.timeout`` around every receive (about 4% of the gateway's CPU on a proxied
    1 MB upload). Call ``close()`` when the body has been read.
    """

    def __init__(self, receive: Receive, timeout: float) -> None:
        self._receive = receive
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: asyncio.Task[object] | None = None
        self._waiting_since = 0.0
        self._expired = False

    async def __call__(self) -> Message:
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._waiting, self._waiting_since = task, self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._waiting_since + self._timeout, self._check)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self._expired and task.uncancel() <= cancelling:
                raise APIError(
                    408,
                    f"The request body stalled: nothing arrived for {self._timeout:g} s "
                    "(REQUEST_BODY_TIMEOUT_SECONDS).",
                    code="request_timeout",
                ) from None
            raise
        finally:
            self._waiting = None
        if message["type"] == "http.disconnect":
            raise ClientGone
        return message

    def _check(self) -> None:
        self._timer = None
        if self._waiting is None:
            return  # not waiting now: the next receive arms the timer again
        due = self._waiting_since + self._timeout
        if self._loop.time() >= due:
            self._expired = True
            self._waiting.cancel()
        else:
            self._timer = self._loop.call_at(due, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The upload exceeds the limit of {limit} bytes (MAX_UPLOAD_BYTES).",
        code="request_too_large",
    )


class Upload:
    """Reads one multipart request: ``prepare()`` validates, ``body()`` yields the exact bytes."""

    def __init__(
        self, scope: Scope, receive: Receive, settings: Settings, task: Literal["transcribe", "translate"]
    ) -> None:
        content_type = content_length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = value
        self._limit = settings.max_upload_bytes
        self._length = _parse_length(content_length)
        if self._length is not None and self._length > self._limit:
            raise too_large(self._limit)
        self._content_type = content_type or b""
        self._scanner = FormScanner(form_boundary(content_type), settings.max_form_field_bytes)
        self._reader = BodyReader(receive, settings.request_body_timeout_seconds)
        self._settings = settings
        self._task = task
        self._head: list[bytes] = []  # what arrived up to the start of the file part (small)
        self._received = 0
        self._more = True
        self._streaming = False
        self._validated_version = -1
        self._spool_path: str | None = None
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
        if self._more:
            try:
                params = self._validate()
            except APIError:
                # A field may still follow the file: decide when the form is complete.
                await self._spool_rest()
            else:
                self._streaming = True
                return params
        return self._validate_complete()

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", self._content_type)]
        if not self._streaming:
            headers.append((b"content-length", str(self._received).encode()))
        elif self._length is not None:
            headers.append((b"content-length", str(self._length).encode()))
        return headers

    async def body(self, watch: ClientWatch) -> AsyncIterator[bytes]:
        """The client's exact bytes; starts ``watch`` once the client has nothing more to send."""
        for chunk in self._head:
            yield chunk
        self._head.clear()
        if self._streaming:
            while self._more:
                chunk = await self._read()
                if self._scanner.complete or not self._more:
                    # Check the finished form before its last bytes go out: an invalid field that
                    # followed the file leaves the backend with an incomplete request.
                    self._validate_complete()
                if not self._more:
                    watch.start()
                if chunk:
                    yield chunk
        else:
            watch.start()
            if self._spool_path is not None:
                async for chunk in self._read_spool():
                    yield chunk

    async def aclose(self) -> None:
        self._reader.close()
        if self._spool_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._spool_path)
            self._spool_path = None

    async def _read(self) -> bytes:
        message = await self._reader()
        chunk: bytes = message.get("body", b"")
        self._more = message.get("more_body", False)
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
            raise APIError(
                400,
                f"Missing required parameter: '{FILE_FIELD}'. Send the audio as the multipart form field "
                f"'{FILE_FIELD}'.",
                param=FILE_FIELD,
                code="missing_required_parameter",
            )
        return params

    async def _spool_rest(self) -> None:
        fd, self._spool_path = tempfile.mkstemp(prefix="gateway-upload-", dir=self._settings.spool_dir)
        with os.fdopen(fd, "wb") as spool:
            pending = bytearray()
            while self._more:
                pending += await self._read()
                if len(pending) >= SPOOL_WRITE_BYTES:
                    await asyncio.to_thread(spool.write, pending)
                    pending = bytearray()
            if pending:
                await asyncio.to_thread(spool.write, pending)

    async def _read_spool(self) -> AsyncIterator[bytes]:
        assert self._spool_path is not None
        size = self._settings.chunk_bytes
        with open(self._spool_path, "rb") as spool:
            while chunk := await asyncio.to_thread(spool.read, size):
                yield chunk


def _parse_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise APIError(400, "Invalid Content-Length header.", code="invalid_request") from None
