"""Fixtures of the deployment tests: the compose files as Docker Compose resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deployment import PROFILED, TOKEN, compose_config


@pytest.fixture(scope="session")
def compose_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compose-home")


@pytest.fixture(scope="session")
def minimal_env_file(compose_home: Path) -> Path:
    """The smallest .env the stack starts with: the one required setting, BACKEND_TOKEN."""
    path = compose_home / "minimal.env"
    path.write_text(f"BACKEND_TOKEN={TOKEN}\n")
    return path


@pytest.fixture(scope="session")
def compose(minimal_env_file: Path, compose_home: Path) -> dict[str, Any]:
    return compose_config("docker-compose.yml", env_file=minimal_env_file, home=compose_home)


@pytest.fixture(scope="session")
def compose_cpu(minimal_env_file: Path, compose_home: Path) -> dict[str, Any]:
    return compose_config("docker-compose.yml", "docker-compose.cpu.yml", env_file=minimal_env_file, home=compose_home)


@pytest.fixture(scope="session")
def compose_all(minimal_env_file: Path, compose_home: Path) -> dict[str, Any]:
    """docker-compose.yml with every profile active: the default stack and the profiled services."""
    profiles = tuple(service.name for service in PROFILED)
    return compose_config("docker-compose.yml", env_file=minimal_env_file, home=compose_home, profiles=profiles)
