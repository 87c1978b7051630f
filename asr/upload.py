"""Receive the multipart upload as it arrives: text fields in memory, the file part spooled.

Starlette's ``request.form()`` would buffer the body; here the request stream is fed to the shared
form scanner and the ``file`` part goes to a spool (``common.spool``: an unnamed temporary file), so
memory stays flat whatever the upload size and nothing is left on disk. The spool is closed when
the context ends, error or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

from fastapi import Request
from starlette.requests import ClientDisconnect

from common.disconnect import ClientGone
from common.errors import invalid
from common.multipart import FormScanner, form_boundary, malformed, missing_file
from common.spool import Spool


@dataclass
class Upload:
    """A received request: its text fields and its spooled file (None: no file part)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    spool: Spool | None = None
    filename: str | None = None

    async def require_file(self) -> IO[bytes]:
        """The uploaded file, from its start: 400 when there is none or it is empty."""
        if self.spool is None:
            raise missing_file()
        if self.spool.size == 0:
            raise invalid("The uploaded file is empty: send an audio file.", "file", "empty_file")
        return await self.spool.file()


@contextlib.asynccontextmanager
async def spooled_upload(request: Request, max_field_bytes: int) -> AsyncIterator[Upload]:
    """Parse ``request`` as multipart/form-data while it streams in."""
    scanner = FormScanner(form_boundary(request.headers.get("content-type")), max_field_bytes, keep_file=True)
    spool = Spool(prefix="asr-upload-")
    try:
        try:
            async for chunk in request.stream():
                scanner.feed(chunk)
                await spool.write(scanner.take_file_data())
        except ClientDisconnect:
            raise ClientGone from None
        if not scanner.complete:
            raise malformed("the body ended before the closing boundary")
        yield Upload(fields=scanner.fields, spool=spool if scanner.file_seen else None, filename=scanner.file_name)
    finally:
        spool.close()
