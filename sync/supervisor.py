"""Run the four services as child processes, wait until they answer, stop them all together.

``inventory-system up`` (and so ``make run``) is this module. Each service is its own process
(``python -m sync.cli serve NAME``), so they talk over HTTP exactly as they would on separate hosts.
``up --replicas N`` runs N inventory instances (ports ``INVENTORY_PORT + 100*i``) and N gateway workers
on the gateway's port, all on one database and one Redis; the gateway balances across the instances.
The first inventory instance starts alone (it runs the migrations and loads the demo data), the rest
once it answers.
With ``SERVICE_REGISTRY_URL`` the services register with that gateway for ``SERVICE_REGISTRY_TTL``
seconds, renew every third of it (:class:`Heartbeat`) and deregister when ``up`` stops; a registration
that stops being renewed (``up`` killed with SIGKILL, the host gone) leaves the registry within its TTL.
Ctrl-C or SIGTERM stops every child; children also get SIGTERM if the supervisor itself dies
(``PR_SET_PDEATHSIG``), so no process or bound port is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sync.settings import Settings

START_ORDER = ("inventory", "analytics", "ml", "gateway")
_PR_SET_PDEATHSIG = 1
#: Port step between inventory replicas: 8004, 8104, 8204, ... (8005 and 8006 are taken).
REPLICA_PORT_STEP = 100


@dataclass
class ServiceProcess:
    name: str
    host: str
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    replica: int = 0  # 0: the first (or only) instance of the service
    workers: int = 1  # the gateway's processes sharing its port

    @property
    def label(self) -> str:
        """``inventory`` for a single instance; ``inventory-1``, ``inventory-2`` for replicas."""
        return self.name if self.replica == 0 else f"{self.name}-{self.replica}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "sync.cli", "serve", self.name, "--host", self.host, "--port", str(self.port)]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        return cmd

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def plan(settings: Settings, replicas: int = 1) -> list[ServiceProcess]:
    """The processes ``up`` starts, in start order, with the ports the settings give them.

    With ``replicas`` > 1: that many inventory instances (``INVENTORY_PORT + 100*i``) and a gateway
    serving with that many workers.
    """
    inventory = [ServiceProcess("inventory", settings.SERVICE_HOST,
                                settings.INVENTORY_PORT + REPLICA_PORT_STEP * i, replica=i + 1 if replicas > 1 else 0)
                 for i in range(replicas)]
    return [*inventory,
            ServiceProcess("analytics", settings.SERVICE_HOST, settings.ANALYTICS_PORT),
            ServiceProcess("ml", settings.SERVICE_HOST, settings.ML_PORT),
            ServiceProcess("gateway", settings.GATEWAY_HOST, settings.GATEWAY_PORT, workers=replicas)]


def replica_problems(settings: Settings, replicas: int) -> list[str]:
    """Why ``replicas`` instances cannot share state with these settings (empty: they can)."""
    if replicas <= 1:
        return []
    problems = []
    last = settings.INVENTORY_PORT + REPLICA_PORT_STEP * (replicas - 1)
    ports = [s.port for s in plan(settings, replicas)]
    if last > 65535:
        problems.append(f"inventory replica {replicas} would need port {last}: lower INVENTORY_PORT or --replicas")
    elif len(set(ports)) < len(ports):
        problems.append(f"two processes would share a port ({sorted(ports)}): inventory replicas use "
                        f"INVENTORY_PORT + {REPLICA_PORT_STEP}*i; move ANALYTICS_PORT, ML_PORT or GATEWAY_PORT")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set: the gateway workers must share their registry, breakers and "
                        "rate limits through Redis")
    if not settings.DATABASE_URL.startswith("postgresql"):
        problems.append(f"DATABASE_URL is {settings.DATABASE_URL.split(':', 1)[0]}: inventory replicas need one "
                        "PostgreSQL database (postgresql://...) to share")
    return problems


def child_environment(services: Sequence[ServiceProcess], base: dict[str, str]) -> dict[str, str]:
    """The environment every child gets: the caller's, plus the URLs that tie the services together.

    ``GATEWAY_SERVICES``, ``INVENTORY_URL`` and ``ML_URL`` follow the chosen ports unless the caller set them.
    """
    env = dict(base)
    backends = [s for s in services if s.name != "gateway"]
    env.setdefault("GATEWAY_SERVICES", ",".join(f"{s.name}={s.url}" for s in backends))
    env.setdefault("INVENTORY_URL", next(s for s in backends if s.name == "inventory").url)
    env.setdefault("ML_URL", next(s for s in backends if s.name == "ml").url)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


_libc: ctypes.CDLL | None = None


def _load_libc() -> None:
    """Open libc in the parent, once: the child then only calls prctl (no dlopen between fork and exec)."""
    global _libc
    if _libc is None:
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent() -> None:
    """Runs in a child (before exec, or after fork): ask the kernel to SIGTERM it when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = _libc if _libc is not None else ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pump(name: str, stream: object, width: int) -> None:
    """Copy a child's output to ours, each line prefixed with the service name."""
    prefix = f"{name:<{width}} | ".encode()
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


def wait_healthy(url: str, deadline: float, alive: Callable[[], bool]) -> bool:
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 - our own URL
                if resp.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def wait_routable(gateway_url: str, services: Sequence[str], deadline: float, alive: Callable[[], bool]) -> bool:
    """Wait until the gateway's /health has a ready instance of each of ``services``.

    A service answering its own /health is not yet reachable through the gateway: the gateway marks an
    instance ready at its next health check (at most a second later). ``up`` announces the stack only
    after that, so a command run right after the banner never finds a service "down"."""
    wanted = set(services)
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{gateway_url}/health", timeout=2) as resp:  # noqa: S310 - our own URL
                deps = json.loads(resp.read()).get("dependencies", {})
            if all(deps.get(name, {}).get("status") == "ok" for name in wanted):
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def instance_name(service: ServiceProcess) -> str:
    return f"{service.name}-{service.port}"


def register_with(registry_url: str, services: Sequence[ServiceProcess], token: str | None = None,
                  ttl: float | None = None) -> None:
    """POST each service to a gateway's ``/services/{name}`` (the gateway's own registration API).

    With ``ttl`` the registration lasts that many seconds unless it is made again (a heartbeat).
    """
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    query = f"?ttl={ttl:g}" if ttl is not None else ""
    for service in services:
        body = {"name": instance_name(service), "url": service.url, "health_check_url": f"{service.url}/health"}
        request = urllib.request.Request(  # noqa: S310 - URL from our own settings
            f"{registry_url.rstrip('/')}/services/{service.name}{query}", data=json.dumps(body).encode(),
            headers=headers, method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            resp.read()


def deregister_from(registry_url: str, services: Sequence[ServiceProcess], token: str | None = None) -> None:
    """DELETE each service's instance from the gateway (an instance it no longer knows is not an error)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    for service in services:
        request = urllib.request.Request(  # noqa: S310 - URL from our own settings
            f"{registry_url.rstrip('/')}/services/{service.name}/{instance_name(service)}", headers=headers,
            method="DELETE",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise


class Heartbeat:
    """Keeps services registered with a gateway: registers with a TTL, renews every third of it, and
    deregisters on :meth:`stop`. ``token`` is called before each round (a fresh admin token, or None)."""

    def __init__(self, registry_url: str, services: Sequence[ServiceProcess], ttl: float,
                 token: Callable[[], str | None] = lambda: None) -> None:
        self.registry_url = registry_url
        self.services = list(services)
        self.ttl = ttl
        self.interval = ttl / 3
        self.token = token
        self.renewals = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat(self) -> None:
        register_with(self.registry_url, self.services, self.token(), self.ttl)
        self.renewals += 1

    def start(self) -> None:
        """Register now (raising if the gateway refuses or is unreachable), then renew in a thread."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name="registry-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except (OSError, urllib.error.HTTPError) as exc:  # keep trying; say so once
                if not self._failing:
                    print(f"registry heartbeat to {self.registry_url} failed: {exc}", file=sys.stderr)
                self._failing = True
            else:
                if self._failing:
                    print(f"registry heartbeat to {self.registry_url} works again", file=sys.stderr)
                self._failing = False

    def stop(self, *, deregister: bool = True) -> None:
        """Stop renewing; with ``deregister`` also remove the instances now (else they expire with the TTL)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if deregister:
            try:
                deregister_from(self.registry_url, self.services, self.token())
            except (OSError, urllib.error.HTTPError) as exc:
                print(f"could not deregister from {self.registry_url}: {exc}", file=sys.stderr)


class Supervisor:
    """Starts the services, reports their URLs, and stops all of them on a signal or a child's death."""

    def __init__(self, settings: Settings, *, replicas: int = 1, startup_timeout: float = 120.0) -> None:
        self.settings = settings
        self.replicas = replicas
        self.services = plan(settings, replicas)
        self.startup_timeout = startup_timeout
        self._stopping = threading.Event()
        self.heartbeat: Heartbeat | None = None

    def run(self) -> int:
        problems = replica_problems(self.settings, self.replicas)
        if problems:
            print(f"cannot start {self.replicas} replicas: " + "; ".join(problems), file=sys.stderr)
            return 2
        busy = [s for s in self.services if port_in_use(s.host, s.port)]
        if busy:
            names = ", ".join(f"{s.label} ({s.host}:{s.port})" for s in busy)
            print(f"cannot start: port already in use for {names}", file=sys.stderr)
            return 2
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping.set()

    def _start(self, group: Sequence[ServiceProcess], env: dict[str, str], width: int) -> None:
        for service in group:
            service.proc = subprocess.Popen(
                service.command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent, start_new_session=True,
            )
        for service in group:  # threads after the group's forks (the child only calls prctl: libc is loaded)
            assert service.proc is not None
            threading.Thread(target=_pump, args=(service.label, service.proc.stdout, width), daemon=True).start()

    def _alive(self, proc: subprocess.Popen[bytes]) -> bool:
        return proc.poll() is None and not self._stopping.is_set()

    def _wait(self, group: Sequence[ServiceProcess], deadline: float) -> int | None:
        """None when every service of the group answers; else the exit code ``run`` returns."""
        for service in group:
            proc = service.proc
            assert proc is not None
            if not wait_healthy(service.url, deadline, partial(self._alive, proc)):
                if self._stopping.is_set():
                    return 0
                print(f"{service.label} did not become healthy at {service.url}", file=sys.stderr)
                return 1
        return None

    def _run(self) -> int:
        env = child_environment(self.services, dict(os.environ))
        width = max(len(s.label) for s in self.services)
        _load_libc()
        deadline = time.monotonic() + self.startup_timeout
        # replicas: the first inventory instance migrates the database and loads demo data before the others
        groups = [self.services[:1], self.services[1:]] if self.replicas > 1 else [self.services]
        for group in groups:
            self._start(group, env, width)
            failed = self._wait(group, deadline)
            if failed is not None:
                return failed
        gateway = self.services[-1]
        if self.settings.SERVICE_REGISTRY_URL:
            self._register(self.settings.SERVICE_REGISTRY_URL)
        assert gateway.proc is not None
        backends = sorted({service.name for service in self.services[:-1]})
        if not wait_routable(gateway.url, backends, deadline, partial(self._alive, gateway.proc)):
            if self._stopping.is_set():
                return 0
            print(f"the gateway at {gateway.url} did not see {', '.join(backends)} ready", file=sys.stderr)
            return 1
        workers = f", {gateway.workers} workers" if gateway.workers > 1 else ""
        print("\nInventory Improvements System is up:")
        print(f"  gateway    {gateway.url}   (docs: {gateway.url}/services, metrics: {gateway.url}/metrics{workers})")
        for service in self.services[:-1]:
            print(f"  {service.label:<10} {service.url}   via gateway: {gateway.url}/{service.name}/  "
                  f"(OpenAPI: {service.url}/docs)")
        print("Press Ctrl-C to stop.\n", flush=True)
        while not self._stopping.wait(0.5):
            for service in self.services:
                assert service.proc is not None
                code = service.proc.poll()
                if code is not None:
                    print(f"{service.label} exited with code {code}; stopping the others", file=sys.stderr)
                    return 1
        return 0

    def _token(self) -> str:
        """What the heartbeat shows the gateway's admin routes: an admin-scoped JWT when JWT is configured
        (a gateway elsewhere may share the key, not this install's token), else the admin token."""
        if self.settings.JWT_SECRET is None:
            from sync.web.admin_token import with_admin_token

            token = with_admin_token(self.settings).ADMIN_TOKEN
            assert token is not None  # with_admin_token always fills it
            return token.get_secret_value()
        from sync.gateway.auth import issue_token

        return issue_token(self.settings.JWT_SECRET.get_secret_value(), "inventory-system-up",
                           [self.settings.JWT_ADMIN_SCOPE], ttl_seconds=60,
                           audience=self.settings.JWT_AUDIENCE, issuer=self.settings.JWT_ISSUER)

    def _register(self, registry_url: str) -> None:
        ttl = self.settings.SERVICE_REGISTRY_TTL
        heartbeat = Heartbeat(registry_url, self.services[:-1], ttl, self._token)
        try:
            heartbeat.start()
        except (OSError, urllib.error.HTTPError) as exc:
            print(f"could not register with {registry_url}: {exc}", file=sys.stderr)
        else:
            self.heartbeat = heartbeat
            print(f"registered inventory, analytics and ml with {registry_url} "
                  f"(TTL {ttl:g}s, renewed every {heartbeat.interval:g}s)")

    def stop(self, grace: float = 10.0) -> None:
        """Deregister, SIGTERM every live child (whole process group), then SIGKILL what is left after ``grace``."""
        if self.heartbeat is not None:
            self.heartbeat.stop(deregister=True)
            self.heartbeat = None
        live = [s.proc for s in reversed(self.services) if s.proc is not None and s.proc.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
