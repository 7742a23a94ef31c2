"""Status poll beside an empty endpoint, with wrk, in one run (auth on).

    python benchmarks/http/run.py [--connections 16] [--duration 10] [--rounds 3]
                                  [--workers 2] [--threads 4] [--server POSTGRES_URL]

Needs wrk (`apt-get install -y wrk`). Starts, one after the other and with the same gunicorn
settings (`-w 2 --threads 4`, as `make run` and the API image):

- the API (`invoice.scanner.api.wsgi:app`) against a migrated database with a company, a user,
  a bearer token and 20 documents (benchmarks/http/status_read.py's `prepare`), loaded with
  `GET /documents/<id>/status` and the token, cycling through the documents;
- a bare Flask app (benchmarks/http/empty_app.py) loaded with `GET /empty`.

Rounds alternate between the two so both see the same machine. Prints requests/s, p50 and p99
(wrk's latency distribution, medians over the rounds) and the ratios status/empty: on a machine
shared with other work compare those, not the absolute figures.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # benchmarks/profiling.py (appended: this folder's name must not shadow http)

from status_read import prepare  # noqa: E402  (core's status benchmark: the same fixtures)

LUA = """
local ids = {%s}
local token = "%s"
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/documents/" .. ids[(i %% #ids) + 1] .. "/status", {["Authorization"] = "Bearer " .. token})
end
"""


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, duration: int, script: Path | None) -> dict[str, float]:
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency", url]
    if script:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0}


class Server:
    def __init__(self, app: str, port: int, workers: int, threads: int, env: dict, cwd: Path | None = None):
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([gunicorn, "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads",
                                      str(threads), "--log-level", "warning", app], env=env, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def wait(self, path: str) -> None:
        from invoice.scanner.processing.devstack import wait_for

        def answers() -> bool:
            try:
                return requests.get(self.base + path, timeout=2).status_code < 500
            except requests.RequestException:
                return False

        wait_for(answers, 120, self.base + path)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server; the run creates its own database there and drops it after")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per round and endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy the API's gunicorn during the status rounds (raw stacks in DIR, summary printed)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk is not installed: apt-get install -y wrk")

    import psycopg
    from urllib.parse import urlparse

    name = f"invoice_scanner_bench_http_{os.getpid()}"
    database_url = urlparse(args.server)._replace(path=f"/{name}").geturl()
    with psycopg.connect(args.server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(args, database_url)
    finally:
        from invoice.scanner.processing.db.connection import close_pools

        close_pools()
        with psycopg.connect(args.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args, database_url: str) -> int:
    from invoice.scanner.processing.devstack import free_port

    token, ids = prepare(database_url, documents=20)
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(LUA % (", ".join(f'"{i}"' for i in ids), token))
    env = {**os.environ, "DATABASE_URL": database_url}
    api = Server("invoice.scanner.api.wsgi:app", free_port(), args.workers, args.threads, env)
    empty = Server("empty_app:app", free_port(), args.workers, args.threads, env, cwd=HERE)
    results: dict[str, list[dict[str, float]]] = {"status": [], "empty": []}
    cpu_ms: dict[str, list[float]] = {"status": [], "empty": []}  # server CPU per request, per round
    part_ms: dict[str, dict[str, list[float]]] = {"status": {}, "empty": {}}  # the same, by part
    from profiling import CpuMeter

    redis_url = os.environ.get("REDIS_URL")
    meters = {"status": CpuMeter({"api": api.proc.pid}, database_url, redis_url),
              "empty": CpuMeter({"empty": empty.proc.pid})}
    profiler = None
    try:
        api.wait("/health")
        empty.wait("/empty")
        r = requests.get(f"{api.base}/documents/{ids[0]}/status", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        wrk(api.base, args.connections, 2, script)  # warm the pools and the interpreters
        wrk(f"{empty.base}/empty", args.connections, 2, None)
        if args.profile:
            from profiling import Profiler

            profiler = Profiler(args.profile, {"api": api.proc.pid}, rate=100)
        for _ in range(args.rounds):
            for name, url, lua in (("status", api.base, script), ("empty", f"{empty.base}/empty", None)):
                before = meters[name].snapshot()
                results[name].append(wrk(url, args.connections, args.duration, lua))
                spent = CpuMeter.delta(before, meters[name].snapshot())
                requests_done = results[name][-1]["rps"] * args.duration
                cpu_ms[name].append(sum(v for k, v in spent.items() if not k.startswith("benchmark"))
                                    / requests_done * 1000)
                for part, seconds in spent.items():
                    if not part.startswith("benchmark"):
                        part_ms[name].setdefault(part, []).append(seconds / requests_done * 1000)
                if name == "status" and profiler:
                    profiled = profiler.stop()
                    profiler = None
    finally:
        if profiler:
            profiler.stop()
        api.stop()
        empty.stop()
        script.unlink(missing_ok=True)

    print(f"wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.duration}s per endpoint, "
          f"gunicorn -w {args.workers} --threads {args.threads}, {os.cpu_count()} CPUs")
    med = {}
    for name, rounds in results.items():
        med[name] = {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_ms", "p99_ms")}
        bad = sum(r["non_2xx"] + r["socket_errors"] for r in rounds)
        print(f"{name:<7} {med[name]['rps']:8.0f} req/s   p50 {med[name]['p50_ms']:6.2f} ms   "
              f"p99 {med[name]['p99_ms']:6.2f} ms   errors {bad}   "
              f"(rounds: {', '.join(str(round(r['rps'])) for r in rounds)} req/s)")
    print(f"status/empty: throughput {med['status']['rps'] / med['empty']['rps']:.1%} (target >= 50 %), "
          f"p99 {med['status']['p99_ms'] / med['empty']['p99_ms']:.2f} x (target <= 3)")
    cpu = {name: statistics.median(v) for name, v in cpu_ms.items()}
    print(f"server CPU per request (gunicorn + its PostgreSQL backends + Redis; wrk itself not counted): "
          f"status {cpu['status']:.2f} ms, empty {cpu['empty']:.2f} ms, ratio {cpu['status'] / cpu['empty']:.2f} x")
    for name, parts in part_ms.items():
        print(f"  {name}: " + ", ".join(f"{part} {statistics.median(v):.3f} ms" for part, v in parts.items()))
    if args.profile:
        from profiling import summarize

        print(summarize(profiled, top=40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
