"""Fixtures of the deployment tests: the compose files as Docker Compose resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deployment import compose_config


@pytest.fixture(scope="session")
def compose_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compose-home")


@pytest.fixture(scope="session")
def empty_env_file(compose_home: Path) -> Path:
    path = compose_home / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="session")
def compose(empty_env_file: Path, compose_home: Path) -> dict[str, Any]:
    return compose_config("docker-compose.yml", env_file=empty_env_file, home=compose_home)


@pytest.fixture(scope="session")
def compose_cpu(empty_env_file: Path, compose_home: Path) -> dict[str, Any]:
    return compose_config("docker-compose.yml", "docker-compose.cpu.yml", env_file=empty_env_file, home=compose_home)
