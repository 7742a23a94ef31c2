"""`make run` leaves no process behind, however it is stopped.

Each case starts the real `make run` (embedded PostgreSQL and Redis, every worker, beat,
Flower, the API and the demo uploads) and interrupts it at a random moment — during start-up,
while documents are processed, or during its own shutdown — with one of the ways a user ends
it: Ctrl-C (SIGINT to the terminal's process group) once or twice, SIGTERM to make, a
hang-up (SIGHUP to the process group, as a closed terminal sends it), SIGKILL of make, and
SIGKILL of the supervisor itself. It records every process of the tree while it runs and then
asserts that none of them is left, and that the ports are free again.

The moments are drawn from a seed printed with each case (INTERRUPT_SEED=... to replay).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from invoice.scanner.processing.devstack import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("INTERRUPT_SEED", random.randrange(1_000_000)))

# (name, what is signalled, the signal, a second signal a moment later or None)
WAYS = [
    ("ctrl-c", "group", signal.SIGINT, None),
    ("ctrl-c twice", "group", signal.SIGINT, signal.SIGINT),
    ("sigterm", "make", signal.SIGTERM, None),
    ("hang-up", "group", signal.SIGHUP, None),
    ("sigkill make", "make", signal.SIGKILL, None),
    ("sigkill supervisor", "supervisor", signal.SIGKILL, None),
]
MOMENTS = ["start-up", "processing", "shutdown"]


def _plan() -> list[tuple[tuple, str]]:
    """Every way once; the moments shuffled so each is drawn at least once per run."""
    rng = random.Random(SEED)
    moments = MOMENTS * 2
    rng.shuffle(moments)
    return list(zip(WAYS, moments))


class Run:
    """`make run` in a session of its own (its process group stands for the terminal's)."""

    def __init__(self, var: Path, samples: Path):
        self.api_port, self.flower_port = free_port(), free_port()
        env = dict(os.environ)
        for key in ("DATABASE_URL", "REDIS_URL", "BROKER_URL"):
            env.pop(key, None)
        env.update({
            # Nothing answers on port 1: the embedded PostgreSQL and Redis start, as on a fresh machine.
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/invoice_scanner",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "API_PORT": str(self.api_port), "FLOWER_PORT": str(self.flower_port),
        })
        self.lines: list[str] = []
        self.seen: dict[int, tuple[float, str]] = {}
        self.proc = subprocess.Popen(
            ["make", "-s", "-o", ".venv/.installed", "run", f"PY={sys.executable}",
             f"RUN_ARGS=--var {var} --samples {samples}"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._watching = True
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def _watch(self) -> None:
        """The process tree, sampled while it lives (pid -> create time, command)."""
        while self._watching:
            try:
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    try:
                        self.seen.setdefault(child.pid, (child.create_time(), " ".join(child.cmdline()[:4])))
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            time.sleep(0.1)

    def output_has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait_output(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.output_has(text):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"`make run` never printed {text!r}:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.2)

    def supervisor_pid(self) -> int:
        for child in psutil.Process(self.proc.pid).children():
            if "devstack" in " ".join(child.cmdline()):
                return child.pid
        raise AssertionError("no supervisor under make")

    def send(self, target: str, sig: int) -> None:
        if target == "group":
            os.killpg(self.proc.pid, sig)
        elif target == "make":
            self.proc.send_signal(sig)
        else:
            os.kill(self.supervisor_pid(), sig)

    def survivors(self) -> list[str]:
        left = []
        for pid, (created, cmd) in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {cmd}")
            except psutil.Error:
                pass
        return left


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def var(tmp_path_factory):
    """One state folder for every case (PostgreSQL's initdb runs once); short, for its socket."""
    root = Path(tmp_path_factory.mktemp("makerun"))
    samples = root / "samples"
    samples.mkdir()
    for name in ("inv-000101-en-classic.pdf", "inv-003104-nl-customer_first-scan.jpg"):
        shutil.copy(REPO / "samples" / name, samples / name)
    return root


@pytest.mark.timeout(300)
@pytest.mark.parametrize("way,moment", _plan(), ids=lambda v: v[0] if isinstance(v, tuple) else v)
def test_no_process_outlives_make_run(var, way, moment):
    name, target, sig, again = way
    rng = random.Random(f"{SEED}-{name}-{moment}")
    print(f"INTERRUPT_SEED={SEED}: {name} during {moment}")
    run = Run(var / "var", var / "samples")
    try:
        if moment == "start-up":
            run.wait_output("Redis:", 120)  # the embedded services are up; workers are starting
            time.sleep(rng.uniform(0.0, 6.0))
        elif moment == "processing":
            run.wait_output("Demo token:", 180)  # the API is up and the demo uploads its samples
            time.sleep(rng.uniform(0.0, 4.0))
        else:
            run.wait_output("API:", 180)
            run.send("group", signal.SIGINT)
            run.wait_output("stopping", 30)
            time.sleep(rng.uniform(0.0, 2.0))
        assert run.seen, "no process was started"
        run.send(target, sig)
        if again is not None:
            time.sleep(rng.uniform(0.2, 1.5))
            if run.proc.poll() is None:
                run.send(target, again)
        try:
            run.proc.wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError("make did not exit:\n" + "\n".join(run.lines[-40:])) from None
        # make may end before the tree it left behind has finished stopping (SIGKILL of make).
        deadline = time.monotonic() + 60
        while run.survivors() and time.monotonic() < deadline:
            time.sleep(0.2)
        run._watching = False
        left = run.survivors()
        assert left == [], f"{name} during {moment} left {len(left)} process(es):\n" + "\n".join(left) + \
            "\n--- output\n" + "\n".join(run.lines[-40:])
        assert _port_free(run.api_port) and _port_free(run.flower_port)
        # The embedded PostgreSQL was among them: its data folder has no live postmaster.
        pid_file = var / "var" / "pgdata" / "postmaster.pid"
        if pid_file.exists():
            assert not psutil.pid_exists(int(pid_file.read_text().split()[0]))
    finally:
        run._watching = False
        for pid, (created, _) in list(run.seen.items()):  # no mess for the next case, even on failure
            try:
                p = psutil.Process(pid)
                if p.create_time() == created:  # the same process, not a reused pid
                    p.kill()
            except psutil.Error:
                pass
        if run.proc.poll() is None:
            run.proc.kill()


@pytest.mark.timeout(120)
def test_a_taken_port_is_named_before_anything_starts(var):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = dict(os.environ, API_PORT=str(port), FLOWER_PORT=str(free_port()))
        out = subprocess.run(["make", "-s", "-o", ".venv/.installed", "run", f"PY={sys.executable}",
                              f"RUN_ARGS=--var {var / 'var-port'} --no-demo"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode != 0
    assert f"port {port} (the API) is already in use by pid {os.getpid()}" in out.stderr, out.stderr
    assert not (var / "var-port" / "pgdata").exists()  # nothing was started
