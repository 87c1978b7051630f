"""scripts/compose-smoke.sh, statically: it runs the compose files and commands docs/deployment.md
shows, and CI (scripts/test.sh without arguments) runs it after pytest. The script itself runs the
real stack on a Docker engine; no engine runs inside pytest."""

from __future__ import annotations

import re

from tests.deploy.deployment import ROOT

SMOKE = ROOT / "scripts" / "compose-smoke.sh"


def _compose_file() -> str:
    (value,) = re.findall(r"^export COMPOSE_FILE=(\S+)$", SMOKE.read_text(), flags=re.MULTILINE)
    return value


def test_the_smoke_stack_is_the_real_compose_file_with_the_cpu_and_embedded_overrides() -> None:
    files = _compose_file().split(":")
    assert files == ["docker-compose.yml", "docker-compose.cpu.yml", "docker-compose.embedded.yml"]
    for name in files:
        assert (ROOT / name).is_file(), name


def test_the_deployment_doc_shows_the_commands_the_smoke_script_runs() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    block = f"export COMPOSE_FILE={_compose_file()}\ndocker network create infra-net\n"
    block += "docker compose build\ndocker compose up -d --wait\n"
    assert block in guide
    script = SMOKE.read_text()
    assert '"$COMPOSE_BIN" build ' in script
    assert re.search(r'"\$COMPOSE_BIN" up -d --wait ', script)
    assert '"$DOCKER" network create infra-net' in script


def test_ci_runs_the_smoke_after_the_whole_suite() -> None:
    lines = [line.strip() for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()]
    assert lines.index(".venv/bin/python -m pytest") < lines.index("scripts/compose-smoke.sh")
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("./scripts/test.sh")
