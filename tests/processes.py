"""Origin processes for multi-process tests: ``picora-origin serve`` as an operator runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

CLI = [sys.executable, "-m", "origin.cli.main"]


class Server:
    """``picora-origin serve`` in a subprocess; its output goes to a file, read on demand.

    A file, not a pipe: a server logging more than a pipe holds would block on a full pipe.
    """

    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.env = env
        self.port = int(env["PICORA_PORT"])
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            mode="w+", prefix="picora-origin-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [*CLI, "serve"], env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, text=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        with open(self.log.name) as handle:
            return handle.read()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.output, re.MULTILINE):
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never printed; output:\n{self.output}")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"never healthy; output:\n{self.output}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()
            os.unlink(self.log.name)
