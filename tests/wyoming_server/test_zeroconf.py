"""ZEROCONF=true: the server announces itself as ``_wyoming._tcp`` over mDNS, where Home Assistant
discovers it. Browsed here with python-zeroconf (the library Home Assistant itself uses) on this
machine's own network interface; no gateway is needed for the announcement."""

from __future__ import annotations

import uuid
from pathlib import Path

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

from fixtures.servers import free_port
from fixtures.waiting import wait_until
from tests.wyoming_server.test_errors import wyoming_server

SERVICE_TYPE = "_wyoming._tcp.local."


class Found(ServiceListener):
    def __init__(self) -> None:
        self.ports: dict[str, int | None] = {}

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=3000)
        self.ports[name] = info.port if info else None

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.ports.pop(name, None)


def test_the_server_is_announced_with_its_name_and_port(tmp_path: Path) -> None:
    name = f"speech-stack-test-{uuid.uuid4().hex[:8]}"  # ours, whatever else announces on this network
    settings = {"HOST": "0.0.0.0", "ZEROCONF": "true", "ZEROCONF_NAME": name}
    with wyoming_server(f"http://127.0.0.1:{free_port()}", tmp_path, **settings) as port:
        browser = Zeroconf()
        found = Found()
        try:
            ServiceBrowser(browser, SERVICE_TYPE, found)
            wait_until(lambda: found.ports.get(f"{name}.{SERVICE_TYPE}") is not None, 15, f"{name} announced")
        finally:
            browser.close()
    assert found.ports[f"{name}.{SERVICE_TYPE}"] == port
