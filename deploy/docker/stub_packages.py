"""Lay out empty stand-ins for the project's packages, so ``pip install .[extra]`` runs from
``pyproject.toml`` alone.

The Docker images install their dependencies in a layer built only from ``pyproject.toml`` (so
that layer is rebuilt when the dependency list changes, not on every code edit); the real code is
copied over the stand-ins afterwards and the project reinstalled without its dependencies. The
package list is read from ``pyproject.toml``, so it never drifts from what setuptools builds.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def package_folders(pyproject: dict) -> list[Path]:
    """The folder of every package setuptools is told to build, honouring ``package-dir``."""
    setuptools = pyproject["tool"]["setuptools"]
    package_dir: dict[str, str] = setuptools.get("package-dir", {})
    folders = []
    for package in setuptools["packages"]:
        top, *sub = package.split(".")
        folders.append(Path(package_dir.get(top, top), *sub))
    return folders


def main(root: Path) -> None:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    for folder in package_folders(pyproject):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").touch()
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):  # setuptools reads it for the metadata; its text is not needed
        (root / readme).touch()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
