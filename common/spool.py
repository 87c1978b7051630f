"""The one way a body waits on disk: an unnamed temporary file, written while the body arrives and
read back from its start (as often as needed).

The file never has a name (``tempfile.TemporaryFile``), so nothing is left behind whatever happens,
even if the process is killed. Writes are batched and, like reads, done off the event loop. The
gateway spools an upload whose file part came before its fields; the ASR service spools the
uploaded audio it decodes.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import IO

WRITE_BYTES = 1024 * 1024


class Spool:
    def __init__(self, directory: str | None = None, *, prefix: str = "spool-") -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix=prefix, dir=directory)  # noqa: SIM115 - closed by close()
        self._pending = bytearray()
        self.size = 0

    async def write(self, data: bytes) -> None:
        self._pending += data
        self.size += len(data)
        if len(self._pending) >= WRITE_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, bytearray()
            await asyncio.to_thread(self._file.write, pending)

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        """What was written, from the start, ``size`` bytes at a time."""
        await self.flush()
        await asyncio.to_thread(self._file.seek, 0)
        while chunk := await asyncio.to_thread(self._file.read, size):
            yield chunk

    async def file(self) -> IO[bytes]:
        """The file itself, at its start, for a reader that takes a file (a decoder)."""
        await self.flush()
        await asyncio.to_thread(self._file.seek, 0)
        return self._file

    def close(self) -> None:
        self._file.close()
