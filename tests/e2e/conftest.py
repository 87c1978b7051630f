"""The e2e tests' OpenAI client on the Coqui stack (the stacks themselves: tests/conftest.py)."""

from __future__ import annotations

import pytest
from openai import OpenAI

from fixtures.stack import LocalStack


@pytest.fixture(scope="session")
def client(coqui_stack: LocalStack) -> OpenAI:
    return coqui_stack.openai_client()
