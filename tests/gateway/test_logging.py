"""What clients send cannot forge log lines: control characters in a logged request path come out
escaped, so one request is one line of the gateway's log."""

from __future__ import annotations

import httpx

from fixtures.servers import Server

FORGED = "2026-12-02 01:00:00,000 gateway ERROR [-] FORGED LINE"


def test_control_characters_in_a_path_are_escaped_in_the_access_log(gateway: Server) -> None:
    path = "/v1/models/x%0d%0a" + FORGED.replace(" ", "%20") + "%00"
    response = httpx.get(gateway.url + path)
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
    line = gateway.wait_for_log("FORGED")
    assert " access: " in line and "/v1/models/x\\r\\n2026-12-02" in line and "\\x00" in line
    assert not any(row.startswith(FORGED) for row in gateway.log().splitlines())
    assert "\x00" not in gateway.log()
