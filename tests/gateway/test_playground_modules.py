"""The playground's pure JavaScript (resampling to 24 kHz, request shapes, playback decisions), run
by Node's own test runner: tests/gateway/playground/*.test.mjs import the very modules the page loads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TESTS = Path(__file__).parent / "playground"


def test_playground_modules() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (Debian package nodejs; scripts/test.sh installs it)"
    files = sorted(TESTS.glob("*.test.mjs"))
    assert len(files) >= 3
    result = subprocess.run([node, "--test", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
