"""The two ways tests run a server of their own, each written once (and the free port it listens on).

* :func:`running`: an ASGI app served by uvicorn in a background thread of the test process (so the test can
  look at the app's state), yielding its base URL once uvicorn says it started; :func:`running_in_loop` is the
  same server as a task of the test's own event loop, for async tests whose app must share that loop.
* :class:`Spawned`: a child process (a service, a whole stack, a redis-server) started, polled until a
  readiness check passes, and stopped (then killed if it does not stop). Its output is kept, so a failure to
  start says why. Checks: :func:`answers` (an HTTP GET answers), :func:`listening` (a port accepts),
  :func:`printed` (a line appeared in the output).

Every wait is bounded in time, and a child that exits while it is awaited fails at once with its output.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server(app: Any, port: int, config: Mapping[str, Any]) -> uvicorn.Server:
    """uvicorn on loopback, lifespan on (the app's start-up runs, as in production), quiet unless it fails."""
    options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "log_level": "warning", "lifespan": "on",
                               "access_log": False}
    options.update(config)
    return uvicorn.Server(uvicorn.Config(app, **options))


@contextmanager
def running(app: Any, port: int | None = None, *, timeout: float = 30.0, **config: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:``port`` (a free one by default) in a thread; yields the base URL once it is
    up. ``config`` overrides uvicorn's options (``loop``, ``http``...)."""
    port = port or free_port()
    server = _server(app, port, config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@asynccontextmanager
async def running_in_loop(app: Any, port: int | None = None, *, timeout: float = 5.0,
                          **config: Any) -> AsyncIterator[str]:
    """:func:`running`, but as a task of the caller's event loop (the app shares it with the test)."""
    port = port or free_port()
    server = _server(app, port, config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + timeout
    while not (server.started or task.done() or time.monotonic() > deadline):
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError(f"server on port {port} did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def granian_in_loop(app: Any, *, head_timeout: float | None = None, quiet: bool = False,
                          timeout: float = 5.0) -> AsyncIterator[str]:
    """Serve ``app`` with granian as ``inventory-system serve gateway`` configures it (ASGI with lifespan,
    the gateway's HTTP/1 limits), embedded in the caller's event loop on a free port; yields the base URL."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    from sync.gateway.launch import http1_settings

    port = free_port()
    limits = http1_settings() if head_timeout is None else http1_settings(head_timeout)
    server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, websockets=False,
                    http1_settings=limits, log_level=LogLevels.critical if quiet else LogLevels.warning)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + timeout
    while True:
        if task.done():
            task.result()  # it failed to start: raise why
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()  # type: ignore[no-untyped-call]
                raise RuntimeError(f"granian on port {port} did not start") from None
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()  # type: ignore[no-untyped-call]
        await task


Check = Callable[["Spawned"], bool]


def answers(url: str, *, status: int | None = 200) -> Check:
    """Ready once ``GET url`` answers ``status`` (any status when None)."""

    def check(_: Spawned) -> bool:
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            return False
        return status is None or response.status_code == status

    return check


def listening(port: int) -> Check:
    """Ready once 127.0.0.1:``port`` accepts a connection."""

    def check(_: Spawned) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def printed(text: str) -> Check:
    """Ready once a line of the child's output contains ``text``."""

    def check(child: Spawned) -> bool:
        return any(text in line for line in list(child.lines))

    return check


class Spawned:
    """One child process: started, polled with ``ready`` until it passes, stopped with ``stop_signal``.

    The output (stdout and stderr) is read by a thread for the child's whole life (a full pipe would block it)
    into :attr:`lines`, and appended to ``log`` when given. Use it as a context manager (``with`` or
    ``async with``: the async form waits in a thread, so the test's event loop keeps serving meanwhile), or
    call :meth:`start` and :meth:`stop` to restart it, as the fault tests do.
    """

    def __init__(self, argv: Sequence[str], *, ready: Check, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None, log: Path | None = None, timeout: float = 60,
                 stop_signal: int = signal.SIGTERM, stop_timeout: float = 15, what: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.ready, self.cwd, self.env, self.log = ready, cwd, dict(env) if env is not None else None, log
        self.timeout, self.stop_signal, self.stop_timeout = timeout, stop_signal, stop_timeout
        self.what = what or " ".join(self.argv[:4])
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.what} was not started"
        return self.proc.pid

    def output(self, chars: int | None = None) -> str:
        """What the child printed so far (its last ``chars`` characters)."""
        text = "".join(self.lines)
        return text if chars is None else text[-chars:]

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float | None = None) -> Spawned:
        """Start the child and return once ``ready`` passes; fails the test (with the child's output) if the
        child exits first or the check does not pass within ``timeout`` seconds."""
        proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        self.proc = proc
        self._reader = threading.Thread(target=self._read, args=(proc,), name=f"output-{proc.pid}", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while not self.ready(self):
                if proc.poll() is not None or time.monotonic() > deadline:
                    gone = proc.poll() is not None
                    pytest.fail(f"{self.what} {'exited' if gone else 'was not ready in time'}:\n"
                                f"{self.output(4000)}", pytrace=False)
                time.sleep(0.1)
        except BaseException:
            self.stop()  # never leave a half-started child behind
            raise
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        log = self.log.open("a") if self.log is not None else None
        try:
            for line in proc.stdout:
                self.lines.append(line)
                if log is not None:
                    log.write(line)
                    log.flush()
        finally:
            if log is not None:
                log.close()

    def send(self, sig: int) -> None:
        assert self.proc is not None, f"{self.what} was not started"
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit by itself; its exit code."""
        assert self.proc is not None, f"{self.what} was not started"
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        """``stop_signal``, then SIGKILL if it has not exited within ``stop_timeout``; its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused child cannot handle the stop signal
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._join()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: gone at once, nothing saved, no clean-up."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(10)  # the pipe closes with the child (and with any grandchild holding it)

    def __enter__(self) -> Spawned:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Spawned:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
