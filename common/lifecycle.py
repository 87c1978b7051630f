"""Model lifetime and admission for the inference backends (ASR and TTS).

One mechanism, used as::

    async with runtime.session(request.receive, task="transcribe") as session:  # one at a time; queue -> 429
        model = await session.model("whisper:turbo", load, setting="WHISPERX_MODEL")
        result = await session.run(transcribe, model, audio)  # in a thread, stops on disconnect

Models are loaded on demand inside the session (so loading is single-flight) and unloaded when
the session ends (``ttl_seconds == 0``, the default) or once they have been idle for ``ttl``.
While someone holds ``runtime.kept_loaded()`` (an open realtime transcription session, whose
turns come seconds apart), nothing is unloaded; the ttl counts from when the last holder leaves.

The runtime keeps the backend metrics of ``common.metrics`` that it knows first hand: the queue
depth and the slot, model loads and unloads, and each session's compute time, by ``task``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import anyio
from pydantic import Field
from starlette.types import Receive

from common.disconnect import cancel_on_disconnect
from common.errors import APIError
from common.metrics import (
    INFERENCE_IN_FLIGHT,
    INFERENCE_SECONDS,
    MODEL_LOAD_SECONDS,
    MODEL_LOADS,
    MODEL_UNLOADS,
    QUEUE_DEPTH,
)
from common.settings import BackendTokenSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
ModelState = Literal["not_loaded", "loading", "ready", "failed"]

RETRY_AFTER_CAP_SECONDS = 30
OOM_RETRY_AFTER_SECONDS = 10  # the memory is freed at once; other work on the GPU may need a moment
OOM_MESSAGE = (
    "The GPU is out of memory. The model was unloaded and GPU memory cleared; free GPU memory "
    "(stop other processes using it) or run ASR and TTS on separate GPUs, then retry."
)


class BackendSettings(BackendTokenSettings):
    """Settings both inference backends have: where they run, and admission and model lifetime."""

    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        description="How long an idle connection from the gateway is kept open. Keep it well above the gateway's "
        "BACKEND_KEEPALIVE_SECONDS, so the gateway never sends a request on a connection the service is closing.",
    )
    device: Literal["auto", "cuda", "cpu"] = Field(
        default="auto", description="Inference device; auto = cuda when available, else cpu."
    )
    model_ttl_seconds: float = Field(
        default=0,
        ge=0,
        description="Keep models loaded this long after the last request; 0 = unload after every request.",
    )
    max_queue: int = Field(default=8, ge=0, description="Requests that may wait for the one inference slot.")
    max_queue_wait_seconds: float = Field(
        default=3600, gt=0, description="Longest a request waits for the inference slot before a 429."
    )

    @functools.cached_property
    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch  # only when a model is about to be loaded

        return "cuda" if torch.cuda.is_available() else "cpu"


async def held_until_sent() -> AsyncIterator[contextlib.AsyncExitStack]:
    """FastAPI dependency: what a request holds (an inference slot, a spooled file) until its
    response has been sent, streamed or not, or its client has gone. FastAPI closes a yield
    dependency after the response, so no response or generator has to remember to."""
    async with contextlib.AsyncExitStack() as stack:
        yield stack


class Cancelled(Exception):
    """Raised inside inference code when its client went away."""


def is_out_of_memory(exc: BaseException) -> bool:
    # torch.cuda.OutOfMemoryError, or a CUDA OOM surfaced as RuntimeError by an extension.
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    """Return freed memory to the system (and to CUDA, when torch is in use)."""
    gc.collect()
    torch = sys.modules.get("torch")  # only when a model brought it in: never import it just for this
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc keeps freed arenas otherwise


@dataclass
class CancelToken:
    """Set when the request that owns a piece of work is gone; checked between chunks."""

    _event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class Session:
    """One admitted request: loads what it needs, runs blocking work off the event loop.

    The session, not whatever response streams its results, owns the inference slot: when the
    request is over, ``ModelRuntime.session`` stops any work still running and waits for it
    before the next request is admitted.
    """

    def __init__(self, runtime: ModelRuntime) -> None:
        self._runtime = runtime
        self.token = CancelToken()
        self._running: asyncio.Future[Any] | None = None
        self.compute_seconds = 0.0  # spent in ``run``: the request's inference time

    async def model(self, key: str, load: Callable[[], T], *, setting: str, kind: str | None = None) -> T:
        """The model under ``key``, loading it with ``load`` if it is not in memory.

        ``setting`` names the environment variable that points at a local copy, for the 503.
        ``kind`` is what the metrics call the model (whisper, align, xtts…): by default the key up
        to its first ``:`` (``whisper:tiny.en``).
        """
        return await self._runtime._get(key, kind or key.partition(":")[0], load, setting, self)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a thread. If the caller is cancelled (client gone) the
        token is set and we wait for ``fn`` to stop before passing the cancellation on."""
        started = time.perf_counter()
        try:
            return await self._call(fn, *args, **kwargs)
        finally:
            self.compute_seconds += time.perf_counter() - started

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``run``, but not counted as inference (model loads)."""
        loop = asyncio.get_running_loop()
        # copy_context: the worker's log lines keep the request id.
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        future = self._running = loop.run_in_executor(None, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await self.stop()
            raise
        except BaseException as exc:
            if is_out_of_memory(exc):
                await self._runtime.unload_all()
                raise APIError(
                    503, OOM_MESSAGE, code="gpu_out_of_memory", headers={"Retry-After": str(OOM_RETRY_AFTER_SECONDS)}
                ) from exc
            raise

    async def stop(self) -> None:
        """Ask running work to stop (at its next token check) and wait until it has."""
        running = self._running
        if running is None or running.done():
            return
        self.token.cancel()
        # Shielded: a request being cancelled must still wait, or the slot would be given up
        # while the worker still runs.
        with anyio.CancelScope(shield=True):
            await asyncio.wait({running})
        if not running.cancelled():
            running.exception()  # read: how stopped work ended no longer matters, and unread it is logged as an error


class ModelRuntime:
    """Admission (one inference at a time, bounded queue) and model lifetime for one service."""

    @classmethod
    def from_settings(cls, settings: BackendSettings, service: str) -> ModelRuntime:
        return cls(
            ttl_seconds=settings.model_ttl_seconds,
            max_queue=settings.max_queue,
            max_wait_seconds=settings.max_queue_wait_seconds,
            service=service,
        )

    def __init__(self, *, ttl_seconds: float, max_queue: int, max_wait_seconds: float, service: str) -> None:
        """``service`` labels the metrics."""
        self.service = service
        self._queue_depth = QUEUE_DEPTH.labels(service)
        self._in_slot = INFERENCE_IN_FLIGHT.labels(service)
        self.ttl_seconds = ttl_seconds
        self.max_queue = max_queue
        self.max_wait_seconds = max_wait_seconds
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._models: dict[str, Any] = {}
        self._kinds: dict[str, str] = {}  # loaded model key -> its kind, for the metrics
        self._state: ModelState = "not_loaded"
        self._last_used = 0.0
        self._expiry: asyncio.Task[None] | None = None
        self._holders = 0
        self._failed: set[str] = set()  # models whose last load failed

    # -- observation ------------------------------------------------------------------------
    @property
    def state(self) -> ModelState:
        return self._state

    @property
    def loaded(self) -> list[str]:
        return list(self._models)

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def queued(self) -> int:
        return self._waiting

    # -- admission --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def session(self, receive: Receive | None = None, *, task: str) -> AsyncIterator[Session]:
        """Wait for the inference slot. With the request's ASGI ``receive`` (call it only once the
        request body has been read), a client that disconnects while waiting leaves the queue at
        once (``ClientGone``). ``task`` labels its inference time (transcribe, speak…)."""
        await self._admit(receive)
        self._in_slot.set(1)
        session = Session(self)
        try:
            yield session
        finally:
            with anyio.CancelScope(shield=True):
                await session.stop()
                if session.compute_seconds:
                    INFERENCE_SECONDS.labels(self.service, task).observe(session.compute_seconds)
                self._last_used = time.monotonic()
                # While held (kept_loaded), the last holder to leave arms the expiry instead.
                if not self._holders and self.ttl_seconds <= 0:
                    await self.unload_all()
                elif not self._holders:
                    self._arm_expiry()
            self._in_slot.set(0)
            self._lock.release()

    @contextlib.asynccontextmanager
    async def kept_loaded(self) -> AsyncIterator[None]:
        """Keep whatever sessions load in memory until the block ends (then the ttl applies)."""
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                self._last_used = time.monotonic()
                self._arm_expiry()  # with ttl 0 too: unloads once no inference runs

    async def _admit(self, receive: Receive | None) -> None:
        # Counted before any await, so simultaneous arrivals cannot all slip past the bound.
        if self._waiting >= self.max_queue + (0 if self._lock.locked() else 1):
            raise self._busy_error("the wait queue is full")
        self._waiting += 1
        self._queue_depth.set(self._waiting)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if receive is not None:
                    await stack.enter_async_context(cancel_on_disconnect(receive))
                # asyncio.timeout, not wait_for: the lock is acquired in this task, so a timeout or a
                # cancellation can never leave it taken by nobody.
                async with asyncio.timeout(self.max_wait_seconds):
                    await self._lock.acquire()
        except TimeoutError:
            raise self._busy_error(f"no slot became free within {self.max_wait_seconds:g} s") from None
        finally:
            self._waiting -= 1
            self._queue_depth.set(self._waiting)

    def _busy_error(self, why: str) -> APIError:
        # A hint, not a promise: a few seconds lets a client back off without giving up for the
        # whole (possibly hour-long) queue wait.
        retry_after = max(1, min(RETRY_AFTER_CAP_SECONDS, int(self.max_wait_seconds)))
        return APIError(
            429,
            f"The server is busy ({why}); it runs one inference at a time. Retry after {retry_after} s.",
            code="server_busy",
            headers={"Retry-After": str(retry_after)},
        )

    # -- loading ------------------------------------------------------------------------------
    async def _get(self, key: str, kind: str, load: Callable[[], T], setting: str, session: Session) -> T:
        if key in self._models:
            return self._models[key]
        self._state = "loading"
        log.info("loading model %s", key)
        started = time.perf_counter()
        try:
            model = await session._call(load)
        except asyncio.CancelledError:
            self._state = "ready" if self._models else "not_loaded"
            raise
        except APIError:
            self._state = self._after_failure()
            await asyncio.to_thread(free_device_memory)
            raise
        except Exception as exc:
            self._state = self._after_failure()
            await asyncio.to_thread(free_device_memory)
            if key in self._failed:  # the traceback was logged the first time
                log.error("could not load model %s again: %s: %s", key, type(exc).__name__, exc)
            else:
                self._failed.add(key)
                log.exception("could not load model %s", key)
            raise APIError(
                503,
                f"Model '{key}' is unavailable: it could not be loaded ({type(exc).__name__}: {exc}). "
                f"If this machine cannot download it, point {setting} at a local copy of the model.",
                code="model_unavailable",
                permanent=True,  # retrying cannot make it appear; OOM and a full queue stay retryable
            ) from exc
        seconds = time.perf_counter() - started
        self._models[key] = model
        self._kinds[key] = kind
        self._failed.discard(key)
        self._state = "ready"
        MODEL_LOADS.labels(self.service, kind).inc()
        MODEL_LOAD_SECONDS.labels(self.service, kind).observe(seconds)
        log.info("loaded model %s in %.2f s", key, seconds)
        return model

    def _after_failure(self) -> ModelState:
        # A model that failed to load beside loaded ones (WhisperX's aligner beside Whisper) leaves
        # those serving: the state says "failed" only when nothing is loaded.
        return "ready" if self._models else "failed"

    async def unload_all(self) -> None:
        """Drop every loaded model and give their memory back (off the event loop)."""
        if not self._models:
            return
        log.info("unloading %s", ", ".join(self._models))
        for key in self._models:
            MODEL_UNLOADS.labels(self.service, self._kinds.pop(key)).inc()
        self._models.clear()
        await asyncio.to_thread(free_device_memory)
        self._state = "not_loaded"  # once the memory is back, so /healthz never reports it early

    # -- keep-warm --------------------------------------------------------------------------
    def _arm_expiry(self) -> None:
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.get_running_loop().create_task(self._expire())

    async def _expire(self) -> None:
        while self._models and not self._holders:
            idle_for = time.monotonic() - self._last_used
            if idle_for < self.ttl_seconds:
                await asyncio.sleep(self.ttl_seconds - idle_for)
                continue
            async with self._lock:  # never unload under a running inference
                if not self._holders and time.monotonic() - self._last_used >= self.ttl_seconds:
                    await self.unload_all()

    async def close(self) -> None:
        """Unload everything (service shutdown)."""
        if self._expiry is not None:
            self._expiry.cancel()
        await self.unload_all()
