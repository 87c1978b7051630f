"""The speech API as the Wyoming server uses it: the gateway's public routes, with the API key.

HTTP goes through one ``httpx.AsyncClient`` (its connection pool shared by every Wyoming client),
the realtime transcription WebSocket through ``websockets``. Whatever goes wrong becomes a
``Failure``: the API's own message when the gateway answered with an error, else what happened in
words that name no host (a Wyoming client sees it in an ``error`` event; the log has the URL).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from wyoming_server.settings import Settings

log = logging.getLogger(__name__)


class Failure(Exception):
    """A request the Wyoming server could not carry out, as its client is told."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def api_failure(status: int, body: bytes) -> Failure:
    """The gateway's error envelope (``{"error": {"message", "code", ...}}``) as a Failure."""
    try:
        error = json.loads(body)["error"]
        return Failure(str(error["message"]), str(error.get("code") or error.get("type") or f"http_{status}"))
    except (ValueError, KeyError, TypeError):
        return Failure(f"The speech API answered HTTP {status}.", f"http_{status}")


class Gateway:
    """The client side of the gateway, shared by every Wyoming connection."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.gateway_url.rstrip("/")
        self.connect_timeout = settings.gateway_connect_timeout_seconds
        self.read_timeout = settings.gateway_read_timeout_seconds
        self._headers = {"Authorization": f"Bearer {settings.bearer}"} if settings.bearer else {}
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers,
            timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        """httpx's exceptions as Failures."""
        try:
            yield
        except httpx.ConnectTimeout:
            raise self.unreachable(f"no connection within {self.connect_timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise self.unreachable(str(exc) or type(exc).__name__) from None
        except httpx.TimeoutException:
            raise self.timed_out() from None
        except httpx.HTTPError as exc:
            log.warning("request to the gateway at %s failed: %r", self.url, exc)
            raise Failure(f"The connection to the speech API failed: {exc}.", "gateway_error") from None

    def unreachable(self, reason: str) -> Failure:
        log.warning("the gateway at %s cannot be reached: %s", self.url, reason)
        return Failure(f"The speech API cannot be reached ({reason}); try again later.", "gateway_unreachable")

    def timed_out(self) -> Failure:
        return Failure(f"The speech API did not answer within {self.read_timeout:g} s.", "gateway_timeout")

    async def get_json(self, path: str) -> Any:
        with self._failures():
            response = await self._http.get(path)
        if response.status_code != 200:
            raise api_failure(response.status_code, response.content)
        return response.json()

    @contextlib.asynccontextmanager
    async def speech(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST /v1/audio/speech; the body's bytes as the gateway sends them (streamed)."""
        with self._failures():
            async with self._http.stream("POST", "/v1/audio/speech", json=body) as response:
                if response.status_code != 200:
                    raise api_failure(response.status_code, await response.aread())
                yield response.aiter_raw()

    @contextlib.asynccontextmanager
    async def realtime(self) -> AsyncIterator[ClientConnection]:
        """The realtime transcription WebSocket (``GET /v1/realtime?intent=transcription``)."""
        url = self.url.replace("http", "ws", 1) + "/v1/realtime?intent=transcription"
        try:
            socket = await connect(
                url, additional_headers=self._headers, open_timeout=self.connect_timeout, max_size=None
            )
        except InvalidStatus as exc:
            raise api_failure(exc.response.status_code, exc.response.body or b"") from None
        except TimeoutError:
            raise self.unreachable(f"no WebSocket within {self.connect_timeout:g} s") from None
        except (OSError, InvalidHandshake) as exc:
            raise self.unreachable(str(exc) or type(exc).__name__) from None
        try:
            yield socket
        finally:
            await socket.close()
