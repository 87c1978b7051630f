"""WebSocket /v1/realtime through the real gateway to the fake backend's realtime route: frames both
ways, close codes both ways, backpressure, the API key (header or browser subprotocol) checked
before the upgrade, and a backend that cannot be reached.

What the ASR service does with the frames is tested in tests/asr/test_realtime.py and end to end
in tests/e2e/test_realtime.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fixtures.servers import Server, run_service
from fixtures.waiting import wait_until
from tests.gateway.conftest import FakeControl

pytestmark = pytest.mark.anyio

KEY = "sk-realtime-test"


def ws_url(server: Server, query: str = "intent=transcription") -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime" + (f"?{query}" if query else "")


async def hello(ws: ClientConnection) -> dict:
    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert event["type"] == "hello", event
    return event


@pytest.fixture(scope="module")
def keyed_gateway(fake: Server, work_dir: Path) -> Iterator[Server]:
    env = {"ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url, "API_KEY": KEY}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


async def test_frames_pass_both_ways_with_query_and_request_id(gateway: Server, backend: FakeControl) -> None:
    async with connect(ws_url(gateway), additional_headers={"x-request-id": "rt-req-1"}) as ws:
        first = await hello(ws)
        assert first["query"] == "intent=transcription"
        assert first["headers"]["x-request-id"] == "rt-req-1"
        assert "openai-beta" not in first["headers"]
        for text in ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "ünïcode ✓"):
            await ws.send(text)
            assert json.loads(await ws.recv()) == {"type": "echo", "text": text}
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"


async def test_browser_subprotocol_is_selected_and_beta_is_forwarded(gateway: Server, backend: FakeControl) -> None:
    """OpenAI's browser clients offer ``realtime`` (and the beta one ``openai-beta.realtime-v1``);
    a browser fails the connection unless the server selects one of the offered protocols."""
    offered = ["realtime", "openai-beta.realtime-v1"]
    async with connect(ws_url(gateway), subprotocols=offered) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert (await hello(ws))["headers"]["openai-beta"] == "realtime=v1"
    async with connect(ws_url(gateway), additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        assert ws.subprotocol is None
        assert (await hello(ws))["headers"]["openai-beta"] == "realtime=v1"


@pytest.mark.parametrize("code", [1000, 1013, 4001])
async def test_backend_close_code_reaches_the_client(gateway: Server, backend: FakeControl, code: int) -> None:
    async with connect(ws_url(gateway)) as ws:
        await hello(ws)
        await ws.send(f"close:{code}")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == code
        assert ws.close_reason == "closed by the backend"


async def test_client_close_reaches_the_backend(gateway: Server, backend: FakeControl) -> None:
    async with connect(ws_url(gateway)) as ws:
        await hello(ws)
        await ws.close(4002, "bye")
    close_code = await asyncio.to_thread(
        wait_until, lambda: backend.requests()[-1].get("client_close"), 10, "the backend to see the close"
    )
    assert close_code == 4002


async def test_a_client_that_stops_reading_holds_the_backend_back(gateway: Server, backend: FakeControl) -> None:
    """Backpressure: while the client reads nothing, the backend can only fill the buffers on the way
    (sockets, and the gateway's 16-frame receive queue), not the gateway's memory. The frames are
    random bytes, so compression cannot make them small."""
    frame = 256 * 1024

    counts: list[int] = []

    def stalled() -> int | None:
        """The bytes the backend got out, once that count stays the same for a second."""
        counts.append(httpx.get(f"{backend.url}/_flood").json()["bytes"])
        return counts[-1] if counts[-2:-1] == counts[-1:] else None

    async with connect(ws_url(gateway), max_size=None) as ws:
        await hello(ws)
        await ws.send(f"flood:{frame}")
        # The client reads nothing: the backend must come to a stop.
        held = await asyncio.to_thread(wait_until, stalled, 20, "the backend to be held back", interval=1.0)
        received = 0
        while received < held:  # reading again lets it go on
            received += len(await asyncio.wait_for(ws.recv(), 10))
    assert 0 < held < 64 * 1024 * 1024, f"{held / 2**20:.1f} MiB went out before the backend was held back"


@pytest.mark.parametrize(
    ("headers", "subprotocols", "allowed"),
    [
        ({}, None, False),
        ({"Authorization": "Bearer wrong"}, None, False),
        ({"Authorization": f"Bearer {KEY}"}, None, True),
        ({}, ["realtime", f"openai-insecure-api-key.{KEY}"], True),
        ({}, ["realtime", "openai-insecure-api-key.wrong"], False),
    ],
    ids=["none", "wrong-bearer", "bearer", "subprotocol", "wrong-subprotocol"],
)
async def test_api_key_is_checked_before_the_upgrade(
    keyed_gateway: Server, backend: FakeControl, headers: dict[str, str], subprotocols: list[str] | None, allowed: bool
) -> None:
    before = len(backend.requests())
    if allowed:
        async with connect(ws_url(keyed_gateway), additional_headers=headers, subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == ("realtime" if subprotocols else None)  # never the key
            await hello(ws)
    else:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(keyed_gateway), additional_headers=headers, subprotocols=subprotocols):  # type: ignore[arg-type]
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert json.loads(response.body)["error"]["code"] == "invalid_api_key"
    assert len(backend.requests()) == before + (1 if allowed else 0)  # a refused client never reaches the backend


async def test_backend_down_is_a_502_before_the_upgrade(orphan_gateway: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(orphan_gateway)):
            pass
    response = refused.value.response
    assert response.status_code == 502
    error = json.loads(response.body)["error"]
    assert error["code"] == "backend_unreachable" and error["message"].startswith(
        "The speech-to-text service did not answer"
    )
