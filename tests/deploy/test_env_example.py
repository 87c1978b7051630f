""".env.example and docs/configuration.md document every setting of every service with its real
default, as deploy/env_example.py generates them from the settings classes."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from fixtures.scripts import load_script
from tests.deploy.deployment import IMAGES, PROFILED, ROOT, TOKEN, compose_config

ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


def _generator() -> ModuleType:
    return load_script(ROOT / "deploy" / "env_example.py")


def test_env_example_is_up_to_date_with_the_settings() -> None:
    assert ENV_EXAMPLE.read_text() == _generator().render(), (
        "settings changed: run `python deploy/env_example.py --write`"
    )


def test_every_setting_is_documented_once_with_a_description() -> None:
    text = ENV_EXAMPLE.read_text()
    lines = [line.removeprefix("# ") for line in text.splitlines()]
    for service in IMAGES:
        for name in service.setting_names():
            assignments = [line for line in lines if line.startswith(f"{name}=")]
            assert len(assignments) == 1, name
    for match in re.finditer(r"\n\n((?:# .*\n)*)# (\w+)=", text):
        assert match.group(1).strip(), f"{match.group(2)} has no description"


def test_hf_token_is_ready_to_fill_in() -> None:
    assert "\nHF_TOKEN=\n" in ENV_EXAMPLE.read_text()


def test_documented_defaults_reach_the_services_as_their_defaults(
    compose_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncommenting every documented setting changes nothing: docker compose hands the values to
    the services and each settings class reads them back as its defaults (wherever the value
    shown is that service's default: a shared name shows the first service's)."""
    generator = _generator()
    lines = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*=.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    shown = dict(line.split("=", 1) for line in lines if not line.startswith("COMPOSE_FILE="))
    shown["BACKEND_TOKEN"] = TOKEN  # required by docker-compose.yml; no default to show
    env_file = compose_home / "documented.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in shown.items()))
    profiles = tuple(service.name for service in PROFILED)
    config = compose_config("docker-compose.yml", env_file=env_file, home=compose_home, profiles=profiles)
    compared = 0
    for service in IMAGES:
        environment = config["services"][service.name]["environment"]
        with monkeypatch.context() as patch:
            for name in service.setting_names():
                patch.delenv(name, raising=False)
            for name, value in environment.items():
                patch.setenv(name, value)
            documented = service.settings_class()()
        for field, info in service.settings_class().model_fields.items():
            default = info.get_default(call_default_factory=True)
            if environment.get(field.upper()) == shown.get(field.upper()) == generator.render_value(default):
                assert getattr(documented, field) == default, f"{service.name}: {field.upper()}"
                compared += 1
    assert compared > 20, compared


def test_configuration_tables_are_up_to_date_with_the_settings() -> None:
    document = CONFIGURATION_DOC.read_text()
    generator = _generator()
    assert document.count(generator.TABLES_BEGIN) == document.count(generator.TABLES_END) == 1
    assert document[generator.tables_span(document)] == generator.render_markdown(), (
        "settings changed: regenerate docs/configuration.md's tables with `python deploy/env_example.py --write`"
    )


def test_write_regenerates_both_files_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--write`` on a stale .env.example and stale tables gives the committed files back, the
    text around the tables untouched."""
    generator = _generator()
    document = CONFIGURATION_DOC.read_text()
    span = generator.tables_span(document)
    stale_env, stale_doc = tmp_path / ".env.example", tmp_path / "configuration.md"
    stale_env.write_text("# OLD=1\n")
    stale_doc.write_text(document[: span.start] + "| `OLD` | `1` | gone |\n" + document[span.stop :])
    monkeypatch.setattr(generator, "ENV_EXAMPLE", stale_env)
    monkeypatch.setattr(generator, "CONFIGURATION_DOC", stale_doc)

    generator.write()

    assert stale_env.read_text() == ENV_EXAMPLE.read_text()
    assert stale_doc.read_text() == document
