"""py-spy sampling of running processes for the benchmarks, and a text summary of what it saw.

    # beside a benchmark (benchmarks/throughput/run.py --profile DIR, benchmarks/http/run.py --profile DIR)
    python benchmarks/profiling.py DIR/*.txt [--top 40] [--match invoice/]

`Profiler` attaches `py-spy record --subprocesses --format raw` (collapsed stacks, idle threads
left out, so a sample is a moment the process was running Python or native code, not waiting)
to each process it is given and stops it with SIGINT. py-spy is on PyPI (`pip install py-spy`);
it needs ptrace rights on the processes (root, or `kernel.yama.ptrace_scope=0`).

The summary prints, per file and over all of them, the share of samples in which a function was
on the stack (inclusive) and on top of it (self), so "where the time goes" reads as a table.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

# "process 123:\"celery worker ...\";<thread>;frame (file.py);frame (file.py) 17"
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Profiler:
    """py-spy on each of `pids` (name -> pid) until `stop()`; one raw file per name in `out_dir`."""

    def __init__(self, out_dir: Path, pids: dict[str, int], rate: int = 50):
        exe = py_spy()
        if exe is None:
            raise SystemExit("py-spy is not installed: pip install py-spy")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        for name, pid in pids.items():
            self.procs.append(subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--function",
                 "--nonblocking", "--rate", str(rate), "-o", str(self.out_dir / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=open(self.out_dir / f"{name}.py-spy.log", "wb")))

    def stop(self) -> list[Path]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        return sorted(self.out_dir.glob("*.txt"))


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, those that ended and were
    waited for included (a prefork pool's replaced children)."""
    import psutil

    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds spent by each part of a run between two snapshots: named process trees, the
    PostgreSQL backends serving one database, the Redis server and this process. Unlike samples
    or wall time, CPU seconds do not grow with the machine's load, so they say where the work is
    on a machine shared with others."""

    def __init__(self, pids: dict[str, int], database_url: str | None = None, redis_url: str | None = None):
        self.pids, self.database_url, self.redis_url = pids, database_url, redis_url
        self._conn = None  # one connection for every snapshot: a busy server may refuse new ones

    def _postgres_s(self) -> float:
        import psutil
        import psycopg
        from urllib.parse import urlparse

        name = urlparse(self.database_url).path.lstrip("/")
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        me = self._conn.info.backend_pid
        pids = [r[0] for r in self._conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                                                 (name, me))]
        total = 0.0
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass  # not on this host, or gone
        return total

    def _redis_s(self) -> float:
        import redis

        info = redis.Redis.from_url(self.redis_url).info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def snapshot(self) -> dict[str, float]:
        snap = {name: process_tree_cpu_s(pid) for name, pid in self.pids.items()}
        if self.database_url:
            snap["postgres (backends of the run's database)"] = self._postgres_s()
        if self.redis_url:
            snap["redis-server"] = self._redis_s()
        t = os.times()
        snap["benchmark driver (this process)"] = t.user + t.system
        return snap

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


def frames(stack: str) -> list[str]:
    """The frames of one collapsed stack, outermost first, without the process/thread prefix."""
    parts = stack.split(";")
    return [p for p in parts if not p.startswith("process ") and not p.startswith("thread ")]


def summarize(paths: list[Path], top: int = 30, match: str | None = None) -> str:
    out: list[str] = []
    total_inclusive: Counter[str] = Counter()
    total_self: Counter[str] = Counter()
    total = 0
    for path in paths:
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        n = 0
        for line in path.read_text(errors="replace").splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            count = int(m["count"])
            fs = frames(m["stack"])
            if not fs:
                continue
            n += count
            for f in set(fs):
                inclusive[f] += count
            own[fs[-1]] += count
        total += n
        total_inclusive.update(inclusive)
        total_self.update(own)
        out.append(_table(path.stem, n, inclusive, own, top, match))
    if len(paths) > 1:
        out.append(_table("all files", total, total_inclusive, total_self, top, match))
    return "\n".join(out)


def _table(title: str, n: int, inclusive: Counter, own: Counter, top: int, match: str | None) -> str:
    lines = [f"\n== {title}: {n} samples =="]
    if not n:
        return lines[0]
    lines.append(f"  {'inclusive':>9} {'self':>6}  function")
    shown = 0
    for f, c in inclusive.most_common():
        if match and match not in f:
            continue
        lines.append(f"  {c / n:>9.1%} {own.get(f, 0) / n:>6.1%}  {f}")
        shown += 1
        if shown >= top:
            break
    lines.append(f"  top self:")
    for f, c in own.most_common(min(top, 15)):
        lines.append(f"  {'':>9} {c / n:>6.1%}  {f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", help="only functions whose frame text contains this (e.g. 'invoice/')")
    args = parser.parse_args()
    print(summarize(args.files, args.top, args.match))


if __name__ == "__main__":
    main()
