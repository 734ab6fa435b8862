"""Shared test helpers: import paths, and skips with a visible reason."""
import os
import sys
import time
import unittest
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
for p in (PYTHON_DIR, PYTHON_DIR / "examples"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

needs_torch = unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed (apt-get install python3-torch)")


def cli_or_skip(testcase):
    """A FalconCLI, or skip when the launcher is missing or FALCON_TORCH_NO_CLI=1."""
    if os.environ.get("FALCON_TORCH_NO_CLI") == "1":
        testcase.skipTest("FALCON_TORCH_NO_CLI=1")
    from falcon_torch import FalconCLI
    try:
        return FalconCLI()
    except FileNotFoundError as e:
        testcase.skipTest(str(e))


def process_runs(pid):
    """Whether pid runs (an ended process not yet reaped, a zombie, does not)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def still_running(pids, seconds=15):
    """Those of pids that still run after up to `seconds` of waiting for them all to end."""
    deadline = time.monotonic() + seconds
    while any(process_runs(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if process_runs(pid)]


class signalled:
    """A context manager for a child process `proc` whose stdout and stderr are pipes: the with-block checks it while it
    runs; on the block's end proc is sent `sig` and waited for up to `timeout` seconds. Whatever happened, a child still
    running then is killed and its pipes are closed; what it wrote to stderr is in .stderr."""

    def __init__(self, proc, sig, timeout=60):
        self.proc, self.sig, self.timeout = proc, sig, timeout
        self.stderr = ""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.proc.send_signal(self.sig)
                self.proc.wait(timeout=self.timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return False
