"""Keep large body chunks in glibc's heap instead of fresh mmaps.

Bodies cross the gateway in chunks of up to 256 KB (uvloop's read size), each becoming new bytes
objects: in uvicorn for uploads, in httptools for backend responses. With glibc's default
thresholds such blocks were mapped and unmapped again, or the heap top trimmed back to the OS
after each free, so every chunk paid a page fault on each of its pages: py-spy put about a third
of a worker's CPU under the 1 MB upload benchmark on uvicorn's ``body +=`` line, and these two
settings raised the gateway's throughput by about 40% on 1 MB transfers at concurrency 8
(docs/benchmarks.md). Memory is still returned once more than ``TRIM_THRESHOLD`` is free at the
top of the heap.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 * 1024 * 1024  # above the largest chunk the gateway moves (1 MiB buffers)
TRIM_THRESHOLD = 16 * 1024 * 1024


def tune_malloc() -> None:
    """Apply the thresholds to this process; a no-op where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
