"""The whole stack as ``make run`` starts it, for tests that drive it over real HTTP.

One way to start it: ``python -m sync.cli up`` in a scratch directory with free ports, waiting for the
supervisor's banner (printed only once every service answered its own ``/health``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port

PORT_SETTINGS = ("GATEWAY_PORT", "INVENTORY_PORT", "ANALYTICS_PORT", "ML_PORT")


@dataclass
class Stack:
    workdir: Path
    ports: dict[str, int]
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The gateway's URL."""
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    def url(self, service: str) -> str:
        """A service's own URL (``inventory``, ``analytics``, ``ml``), bypassing the gateway."""
        return f"http://127.0.0.1:{self.ports[service.upper() + '_PORT']}"


@contextmanager
def running_stack(workdir: Path, env_extra: dict[str, str] | None = None, *, timeout: float = 150) -> Iterator[Stack]:
    """Start the four services; stop them all when the block ends. Fails the test if they do not come up."""
    import pytest

    ports = {name: free_port() for name in PORT_SETTINGS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE"))}
    env.pop("GATEWAY_SERVICES", None)
    env.pop("INVENTORY_URL", None)
    env.update({k: str(v) for k, v in ports.items()})
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "up"], cwd=workdir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    stack = Stack(workdir=workdir, ports=ports, proc=proc)
    up = threading.Event()

    def read_output() -> None:  # keeps the pipe drained for the stack's whole life
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.output.append(line)
            if "Press Ctrl-C to stop" in line:
                up.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        if not up.wait(timeout):
            pytest.fail(f"stack did not come up within {timeout:.0f} s:\n" + "".join(stack.output)[-4000:])
        yield stack
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
