"""/playground in Firefox: Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core.

Playwright drives only its own Firefox build, so tests/node/playground_firefox.mjs (Node, with
puppeteer-core from npm and no browser download) drives the system one. It speaks in four formats
(mp3 cannot stream through Firefox's MediaSource, so it must play once complete), transcribes a
file, records Firefox's fake microphone (a tone: the recording is checked, not its words), streams
it Live, shows the API's error for an empty text, and
fails on any request off the server's origin or any uncaught page error. Here the transcript's words
and the lengths it measured are checked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from fixtures.servers import REPO
from fixtures.speech import SENTENCE, speech_file
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate

FIREFOX = Path("/usr/bin/firefox-esr")
NODE_DIR = REPO / "tests" / "node"
SCRIPT = NODE_DIR / "playground_firefox.mjs"


def test_playground_in_firefox(embedded_stack: LocalStack) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (Debian package nodejs; scripts/test.sh installs it)"
    assert FIREFOX.exists(), "Firefox is needed (Debian package firefox-esr; scripts/test.sh installs it)"
    assert (NODE_DIR / "node_modules" / "puppeteer-core").is_dir(), "run README command 2 (scripts/test.sh)"
    audio = speech_file(SENTENCE, "wav", engine="espeak")
    result = subprocess.run(
        [node, str(SCRIPT), embedded_stack.url, str(audio)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["firefox"].startswith("firefox/")
    assert word_error_rate(SENTENCE, measured["transcript"]) <= 0.2, measured["transcript"]
    durations = measured["durations"]
    assert set(durations) == {"mp3", "opus", "wav", "pcm"}
    assert all(abs(seconds / durations["wav"] - 1) < 0.2 for seconds in durations.values()), durations
    assert "Invalid value for 'input'" in measured["empty_text_alert"]
    # Live: streamed at Firefox's own rate, stopped cleanly.
    assert measured["live_status"] == "Stopped."
