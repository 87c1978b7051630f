"""A service that ignores SIGTERM and forks a worker that ignores it too (a Granian gateway told to
stop while its worker was starting was seen not to stop): what the launcher must kill, worker
included, once its grace is over."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "--worker" not in sys.argv:
    subprocess.Popen([sys.executable, "-m", "tests.e2e.stubborn_service", "--worker"])
time.sleep(600)
