"""The services' shared logging setup (common/service.py); what it does to real access lines is
tested through the gateway (tests/gateway/test_logging.py)."""

from __future__ import annotations

import logging

import pytest

from common.service import configure_logging


def test_a_malformed_log_call_does_not_raise_into_the_caller(capfd: pytest.CaptureFixture[str]) -> None:
    """A library's broken format arguments are reported by logging as before, never raised at the caller."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("test", "info")
    try:
        logging.getLogger("some.library").info("%d items", "not a number")
        logging.getLogger("some.library").info("path %s", "/x\r\nforged")
    finally:
        root.handlers[:], root.level = handlers, level
    err = capfd.readouterr().err
    assert "--- Logging error ---" in err and "path /x\\r\\nforged" in err
