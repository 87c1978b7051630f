"""Print the requirements that every given extra of ``pyproject.toml`` pins alike, one a line:
``python shared_requirements.py asr tts``.

The two backend images install these first (torch, its CUDA wheels and the rest of the lockstep
set), in a step that is written the same in both Dockerfiles, so BuildKit builds that layer of
several GB once and both images share it. Read from ``pyproject.toml``, so it never drifts from
what each image's ``pip install .[extra]`` asks for next.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def _key(requirement: str) -> str:
    # The standard library only (the image has no `packaging` yet): spacing and case do not count.
    return "".join(requirement.split()).lower()


def shared(pyproject: dict, extras: list[str]) -> list[str]:
    """Requirements present in every one of ``extras``, as the first extra writes them, in its order."""
    optional: dict[str, list[str]] = pyproject["project"]["optional-dependencies"]
    groups = [{_key(line) for line in optional[extra]} for extra in extras]
    return [line for line in optional[extras[0]] if all(_key(line) in group for group in groups)]


def main(extras: list[str], root: Path) -> None:
    if not extras:
        sys.exit("usage: shared_requirements.py EXTRA [EXTRA...]")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    print("\n".join(shared(pyproject, extras)))


if __name__ == "__main__":
    main(sys.argv[1:], Path.cwd())
