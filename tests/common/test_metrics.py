"""The backend metrics ``ModelRuntime`` keeps, read from the exposition as Prometheus reads it: the
queue while a request waits for the slot, the slot, model loads and unloads by kind, and each
request's compute time by task (model loads not included). Plain Python objects stand in for
models, as in test_lifecycle.py; each test labels its runtime with a service name of its own."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import generate_latest

from common.lifecycle import ModelRuntime
from fixtures.waiting import wait_until
from tests.metrics import Exposition

pytestmark = pytest.mark.anyio  # anyio's pytest plugin runs them on asyncio


def exposition() -> Exposition:
    return Exposition(generate_latest().decode())


def runtime(service: str, ttl: float = 0.0) -> ModelRuntime:
    return ModelRuntime(ttl_seconds=ttl, max_queue=4, max_wait_seconds=5, service=service)


async def test_queue_depth_counts_the_requests_waiting_for_the_slot() -> None:
    rt = runtime("queue-test")
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with rt.session(task="test"):
            holding.set()
            await release.wait()

    async def wait_for_the_slot() -> None:
        async with rt.session(task="test"):
            pass

    holder = asyncio.create_task(hold())
    await holding.wait()
    assert exposition().value("speech_inference_in_flight", service="queue-test") == 1
    assert exposition().value("speech_queue_depth", service="queue-test") == 0
    waiters = [asyncio.create_task(wait_for_the_slot()) for _ in range(2)]
    await asyncio.to_thread(wait_until, lambda: rt.queued == 2, 5)
    assert exposition().value("speech_queue_depth", service="queue-test") == 2
    release.set()
    await asyncio.gather(holder, *waiters)
    assert exposition().value("speech_queue_depth", service="queue-test") == 0
    assert exposition().value("speech_inference_in_flight", service="queue-test") == 0


async def test_loads_unloads_and_compute_time_by_kind_and_task() -> None:
    rt = runtime("lifetime-test")

    def load() -> object:
        time.sleep(0.3)  # the load time the metric must show
        return object()

    async with rt.session(task="transcribe") as session:
        await session.model("whisper:tiny.en", load, setting="MODEL")
        await session.model("align:en", load, setting="ALIGN_MODEL")
        await session.model("/models/voice.onnx", load, setting="VOICE", kind="piper")
        await session.run(time.sleep, 0.05)
    seen = exposition()
    for kind in ("whisper", "align", "piper"):
        labels = {"service": "lifetime-test", "model": kind}
        assert seen.value("speech_model_loads_total", **labels) == 1
        assert seen.value("speech_model_unloads_total", **labels) == 1  # ttl 0: after the session
        assert seen.value("speech_model_load_seconds_count", **labels) == 1
        assert seen.value("speech_model_load_seconds_sum", **labels) >= 0.3
    assert seen.labels("speech_model_loads_total", "model") >= {"whisper", "align", "piper"}
    assert "/models/voice.onnx" not in seen.labels("speech_model_loads_total", "model")
    task = {"service": "lifetime-test", "task": "transcribe"}
    assert seen.value("speech_inference_seconds_count", **task) == 1
    assert 0.05 <= seen.value("speech_inference_seconds_sum", **task) < 0.3  # the loads are not inference
    bounds = {float(le) for le in seen.labels("speech_inference_seconds_bucket", "le")}
    assert min(bounds) == 0.1 and 600 in bounds


async def test_a_session_that_ran_nothing_adds_no_inference_time() -> None:
    rt = runtime("idle-test")
    async with rt.session(task="speak"):
        pass
    assert exposition().value("speech_inference_seconds_count", service="idle-test") == 0
