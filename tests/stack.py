"""The whole stack as ``make run`` starts it, for tests that drive it over real HTTP.

One way to start it: ``python -m sync.cli up`` in a scratch directory with free ports, ready once the
supervisor prints its banner (printed only once every service answered its own ``/health``). It is stopped
as a user stops it: Ctrl-C (SIGINT).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.serving import Spawned, free_port, printed

PORT_SETTINGS = ("GATEWAY_PORT", "INVENTORY_PORT", "ANALYTICS_PORT", "ML_PORT")
#: settings a developer's shell may hold that would tie the test's stack to other servers
FOREIGN_SETTINGS = ("REDIS", "RATE_LIMIT", "JWT", "DATABASE", "GATEWAY", "INVENTORY_URL")


@dataclass
class Stack:
    workdir: Path
    ports: dict[str, int]
    process: Spawned

    @property
    def base(self) -> str:
        """The gateway's URL."""
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    def url(self, service: str) -> str:
        """A service's own URL (``inventory``, ``analytics``, ``ml``), bypassing the gateway."""
        return f"http://127.0.0.1:{self.ports[service.upper() + '_PORT']}"


@contextmanager
def running_stack(workdir: Path, env_extra: dict[str, str] | None = None, *, args: Sequence[str] = (),
                  timeout: float = 150) -> Iterator[Stack]:
    """Start the four services (``up`` with ``args``); stop them all when the block ends. Fails the test if
    they do not come up within ``timeout`` seconds."""
    ports = {name: free_port() for name in PORT_SETTINGS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_SETTINGS)}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(env_extra or {})
    process = Spawned([sys.executable, "-m", "sync.cli", "up", *args], ready=printed("Press Ctrl-C to stop"),
                      cwd=workdir, env=env, timeout=timeout, stop_signal=signal.SIGINT, stop_timeout=30,
                      what="the stack")
    with process:
        yield Stack(workdir=workdir, ports=ports, process=process)
