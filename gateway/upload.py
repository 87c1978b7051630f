"""A transcription/translation upload on its way to the ASR service.

The body is forwarded byte for byte, never held whole in memory, and validated before the ASR
service is contacted:

* fields before the file (OpenAI SDKs, browsers): the fields are validated as soon as the file
  part begins, then the body streams to the backend as it arrives;
* file before some fields (``curl -F file=@x -F model=...``): the rest of the body is spooled
  (``common.spool``) until the form ends, everything is validated, then the spooled body is
  streamed. A spooled body can be sent again, so a backend connection that fails before answering
  is retried once.

A text field that only arrives after a streamed file is validated when the form ends; if it is
invalid, the backend request is aborted before its body completes and the client gets the 400.
Size limits and stalls are the body middleware's (``gateway.body_limits``); the client going away
is ``ClientGone``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request

from common.api_types import TranslationForm, parse_form
from common.disconnect import ClientGone
from common.errors import APIError
from common.multipart import FILE_FIELD, FormScanner, form_boundary, malformed, missing_file
from common.spool import Spool
from gateway.settings import Settings


class Upload:
    """Reads one multipart request: ``prepare()`` validates, ``body()`` yields the exact bytes.

    ``body_read`` is set once the client has nothing more to send.
    """

    def __init__(self, request: Request, settings: Settings, form: type[TranslationForm]) -> None:
        self._request = request
        self._length = request.headers.get("content-length")
        self._content_type = request.headers.get("content-type", "")
        self._scanner = FormScanner(form_boundary(self._content_type), settings.max_form_field_bytes)
        self._settings = settings
        self._form = form
        self._head: list[bytes] = []  # what arrived up to the start of the file part (small)
        self._received = 0
        self._more = True
        self._validated_version = -1
        self._spool: Spool | None = None
        self.streaming = False  # True: the body goes on as it arrives, so it cannot be sent twice
        self.body_read = asyncio.Event()
        self.params: TranslationForm | None = None

    async def prepare(self) -> TranslationForm:
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
            headers.append(("content-length", self._length))
        return headers

    async def body(self) -> AsyncIterator[bytes]:
        """The client's exact bytes (a spooled body may be read again)."""
        if not self.streaming:
            for chunk in self._head:
                yield chunk
            self.body_read.set()
            if self._spool is not None:
                async for chunk in self._spool.chunks(self._settings.chunk_bytes):
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

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    async def _read(self) -> bytes:
        message = await self._request.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        self._more = message.get("more_body", False)
        chunk: bytes = message.get("body", b"")
        self._received += len(chunk)
        self._scanner.feed(chunk)
        return chunk

    def _validate(self) -> TranslationForm:
        self.params = parse_form(self._form, self._scanner.fields)
        self._validated_version = self._scanner.fields_version
        return self.params

    def _validate_complete(self) -> TranslationForm:
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
        self._spool = spool = Spool(self._settings.spool_dir, prefix="gateway-upload-")
        while self._more:
            await spool.write(await self._read())
        await spool.flush()
