"""The backends' one model-lifecycle mechanism: admission, load/unload, TTL, cancellation, errors.

These drive ``ModelRuntime`` directly with plain Python objects as "models": the mechanism is
engine-agnostic, and the services' own tests cover it again with real models over HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from common.errors import APIError
from common.lifecycle import Cancelled, ModelRuntime
from fixtures.waiting import wait_until

pytestmark = pytest.mark.anyio


def runtime(ttl: float = 0.0, max_queue: int = 4, max_wait: float = 5.0) -> ModelRuntime:
    return ModelRuntime(ttl_seconds=ttl, max_queue=max_queue, max_wait_seconds=max_wait, service="test")


class Loader:
    """Loads a stand-in model, counting how often it was asked to."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return object()


async def test_ttl_zero_unloads_after_each_session() -> None:
    rt = runtime(ttl=0)
    load = Loader()
    for _ in range(2):
        async with rt.session(task="test") as session:
            await session.model("m", load, setting="MODEL")
            assert rt.state == "ready" and rt.loaded == ["m"]
        assert rt.state == "not_loaded" and rt.loaded == []
    assert load.calls == 2


async def test_ttl_keeps_model_warm_then_unloads_when_idle() -> None:
    rt = runtime(ttl=0.3)
    load = Loader()
    for _ in range(3):
        async with rt.session(task="test") as session:
            await session.model("m", load, setting="MODEL")
    assert load.calls == 1 and rt.state == "ready"
    await asyncio.to_thread(wait_until, lambda: rt.loaded == [], 5)  # dropped once idle for the TTL ...
    await asyncio.to_thread(wait_until, lambda: rt.state == "not_loaded", 10)  # ... its memory freed in a thread
    await rt.close()


async def test_kept_loaded_keeps_models_between_sessions_then_ttl_zero_unloads() -> None:
    """A realtime session holds the model between its turns, even with ttl 0; a file request meanwhile
    finds it loaded; once the holder leaves, the model goes (after any running inference)."""
    rt = runtime(ttl=0)
    load = Loader()
    async with rt.kept_loaded():
        for _ in range(3):
            async with rt.session(task="test") as session:
                await session.model("m", load, setting="MODEL")
            assert rt.state == "ready" and rt.loaded == ["m"]
        await asyncio.sleep(0.05)  # a moment with no session: the holder alone keeps the model
        assert rt.loaded == ["m"]
    # Unloading frees memory in a thread: poll for the end state.
    await asyncio.to_thread(wait_until, lambda: rt.state == "not_loaded", 2)
    assert load.calls == 1 and rt.loaded == []


async def test_kept_loaded_never_unloads_under_a_running_inference() -> None:
    rt = runtime(ttl=0)
    started = asyncio.Event()
    during: list[list[str]] = []

    async def file_request() -> None:
        async with rt.session(task="test") as session:
            await session.model("m", object, setting="MODEL")
            started.set()
            await session.run(time.sleep, 0.3)  # the inference
            during.append(rt.loaded)

    async with rt.kept_loaded():
        task = asyncio.create_task(file_request())
        await started.wait()
    await task  # the holder left while it ran: the model stayed until the request ended
    assert during == [["m"]]
    await asyncio.to_thread(wait_until, lambda: rt.state == "not_loaded", 2)
    assert rt.loaded == []


async def test_one_inference_at_a_time_and_queue_overflow_is_429() -> None:
    rt = runtime(max_queue=1, max_wait=5)
    running = 0
    peak = 0

    def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.2)  # the inference
        running -= 1

    async def request() -> str:
        try:
            async with rt.session(task="test") as session:
                await session.run(work)
            return "ok"
        except APIError as exc:
            assert exc.status == 429 and exc.headers["Retry-After"].isdigit()
            return "busy"

    results = await asyncio.gather(*(request() for _ in range(4)))
    # one runs, one waits in the queue of size 1, two overflow
    assert sorted(results) == ["busy", "busy", "ok", "ok"]
    assert peak == 1


async def test_waiting_longer_than_max_wait_is_429() -> None:
    rt = runtime(max_queue=5, max_wait=0.2)
    holding = asyncio.Event()

    async def hold() -> None:
        async with rt.session(task="test") as session:
            holding.set()
            await session.run(time.sleep, 0.6)  # an inference longer than max_wait

    holder = asyncio.create_task(hold())
    await holding.wait()
    with pytest.raises(APIError) as caught:
        async with rt.session(task="test"):
            pass
    assert caught.value.status == 429
    await holder
    assert rt.queued == 0 and not rt.busy


async def test_cancelled_request_stops_work_and_frees_the_slot() -> None:
    rt = runtime()
    working, stopped = threading.Event(), threading.Event()

    def long_work(token_holder: list) -> None:
        token = token_holder[0]
        working.set()
        for _ in range(200):  # an inference that checks its cancel token between steps
            if token.cancelled:
                stopped.set()
                raise Cancelled()
            time.sleep(0.01)

    async def request() -> None:
        async with rt.session(task="test") as session:
            await session.run(long_work, [session.token])

    task = asyncio.create_task(request())
    assert await asyncio.to_thread(working.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the slot is only given back once the work has really stopped
    assert stopped.is_set()
    assert not rt.busy
    async with rt.session(task="test"):
        pass


async def test_load_failure_is_503_naming_model_and_setting() -> None:
    rt = runtime()

    def load() -> object:
        raise OSError("no such repository")

    with pytest.raises(APIError) as caught:
        async with rt.session(task="test") as session:
            await session.model("org/model", load, setting="SOME_MODEL")
    assert caught.value.status == 503
    assert "org/model" in caught.value.message and "SOME_MODEL" in caught.value.message
    assert rt.state == "failed"  # as /healthz then reports it
    assert not rt.busy


async def test_out_of_memory_is_503_and_unloads() -> None:
    """A GPU is not available here: the OOM is a stand-in exception named like torch's."""

    class OutOfMemoryError(RuntimeError):
        pass

    rt = runtime(ttl=60)

    def infer() -> None:
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(APIError) as caught:
        async with rt.session(task="test") as session:
            await session.model("m", object, setting="MODEL")
            await session.run(infer)
    assert caught.value.status == 503 and caught.value.code == "gpu_out_of_memory"
    assert "separate GPUs" in caught.value.message
    assert int(caught.value.headers["Retry-After"]) > 0  # retryable, as docs/api.md says
    assert "x-should-retry" not in caught.value.headers
    assert rt.loaded == []
    await rt.close()


async def test_an_extra_model_that_cannot_load_leaves_the_loaded_one_serving(caplog: pytest.LogCaptureFixture) -> None:
    """E.g. WhisperX's aligner offline beside a loaded Whisper: the state stays ready (health checks
    see a working service), the main model keeps serving, and the traceback is logged once."""
    with caplog.at_level("INFO", logger="common.lifecycle"):
        rt = runtime(ttl=60)

        def missing() -> object:
            raise OSError("no network")

        async with rt.session(task="test") as session:
            await session.model("main", object, setting="MODEL")
        for _ in range(2):
            with pytest.raises(APIError) as caught:
                async with rt.session(task="test") as session:
                    await session.model("align:en", missing, setting="ALIGN_MODEL")
            assert caught.value.status == 503 and rt.state == "ready" and rt.loaded == ["main"]
        async with rt.session(task="test") as session:
            assert await session.model("main", missing, setting="MODEL") is not None  # still the loaded one
        await rt.close()
    failures = [r for r in caplog.records if "could not load model align:en" in r.getMessage()]
    assert [r.exc_info is not None for r in failures] == [True, False]
