"""Admission when clients give up: ``ModelRuntime`` driven directly (no servers).

A request waiting for the inference slot whose client disconnects leaves the queue at once (its
place is free for the next one) and never takes the slot; the slot is never leaked.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from common.disconnect import ClientGone
from common.lifecycle import ModelRuntime
from fixtures.waiting import wait_until

pytestmark = pytest.mark.anyio


class Client:
    """An ASGI ``receive`` whose request body is read; ``leave()`` is the disconnect."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()

    def leave(self) -> None:
        self._gone.set()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}


async def test_a_client_that_leaves_the_queue_frees_its_place() -> None:
    rt = ModelRuntime(ttl_seconds=0, max_queue=1, max_wait_seconds=30, service="test")
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with rt.session(task="test"):
            holding.set()
            await release.wait()

    async def wait_in_line(client: Client) -> str:
        try:
            async with rt.session(client.receive, task="test"):
                return "admitted"
        except ClientGone:
            return "left"

    running = asyncio.create_task(hold())
    await holding.wait()
    leaving = Client()
    queued = asyncio.create_task(wait_in_line(leaving))
    await asyncio.to_thread(wait_until, lambda: rt.queued == 1, 5)
    leaving.leave()
    assert await asyncio.wait_for(queued, 1) == "left"
    assert rt.queued == 0
    # The queue (size 1) has room again while the slot is still busy.
    staying = asyncio.create_task(wait_in_line(Client()))
    await asyncio.to_thread(wait_until, lambda: rt.queued == 1, 5)
    assert not staying.done()
    release.set()
    await running
    assert await asyncio.wait_for(staying, 1) == "admitted"
    assert not rt.busy


async def test_leaving_at_the_moment_the_slot_frees_never_leaks_it() -> None:
    """Disconnects racing the hand-over of the slot: afterwards the slot is always free."""
    rt = ModelRuntime(ttl_seconds=0, max_queue=4, max_wait_seconds=30, service="test")
    for n in range(200):
        release = asyncio.Event()

        async def hold(release: asyncio.Event = release) -> None:
            async with rt.session(task="test"):
                await release.wait()

        # Each asyncio.sleep(0) lets the other tasks run one step: where they are is what is varied.
        running = asyncio.create_task(hold())
        await asyncio.sleep(0)
        client = Client()

        async def wait(client: Client = client) -> None:
            async with rt.session(client.receive, task="test"):
                await asyncio.sleep(0)

        queued = asyncio.create_task(wait())
        await asyncio.sleep(0)
        for _ in range(n % 3):
            await asyncio.sleep(0)  # vary which comes first: the release or the disconnect
        release.set()
        client.leave()
        await running
        with contextlib.suppress(ClientGone, asyncio.CancelledError):
            await queued
        assert not rt.busy and rt.queued == 0, n
