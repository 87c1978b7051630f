"""Property-based fuzzing of the gateway's OpenAPI schema with schemathesis.

Every operation gets bounded examples (valid and invalid) sent over HTTP to a real gateway in
front of the fake backend (tests/gateway/fake_backend.py, which answers every valid request
quickly). The properties: no 5xx, every error in the OpenAI envelope, documented statuses,
content types and schemas.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fixtures.servers import Server
from gateway.app import create_app

schema = schemathesis.openapi.from_dict(create_app().openapi())


@schemathesis.check
def error_in_envelope(ctx, response, case) -> None:  # type: ignore[no-untyped-def]
    """Every 4xx/5xx body is the OpenAI envelope."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          error_in_envelope]  # fmt: skip


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_gateway_conforms_to_its_schema(case: schemathesis.Case, fake_gateway: Server) -> None:
    case.call_and_validate(base_url=fake_gateway.url, checks=CHECKS, timeout=10)
