"""Print the requirements a package declares in its pyproject.toml, one per line.

    python docker/pyproject_deps.py invoice.scanner.processing/pyproject.toml --extras stages,vendors \
        [--also invoice.scanner.api/pyproject.toml] > requirements.txt

The Dockerfiles install these first, from the pyproject files alone, so the (slow) dependency
layer is rebuilt only when a pyproject changes and not on every source edit; the project's
own packages are then installed with `--no-deps` from the copied source. Packages that are
declared by one of the given pyproject files themselves (the API depends on
`invoice.scanner.processing`) are left out: they come from source, not from the index.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path


def _name(requirement: str) -> str:
    """The normalized distribution name at the start of a PEP 508 requirement."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(pyprojects: list[Path], extras: list[str]) -> list[str]:
    projects = [tomllib.loads(p.read_text(encoding="utf-8"))["project"] for p in pyprojects]
    own = {_name(p["name"]) for p in projects}
    out: list[str] = []
    for i, project in enumerate(projects):
        reqs = list(project.get("dependencies", []))
        if i == 0:  # extras name the first (main) package's optional dependencies
            optional = project.get("optional-dependencies", {})
            for extra in extras:
                if extra not in optional:
                    raise SystemExit(f"{pyprojects[0]}: no extra {extra!r} (has {', '.join(sorted(optional))})")
                reqs.extend(optional[extra])
        out.extend(r for r in reqs if _name(r) not in own and r not in out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pyproject", type=Path, help="the main package's pyproject.toml")
    parser.add_argument("--extras", default="", help="comma-separated extras of the main package")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another pyproject.toml whose core dependencies are needed too")
    args = parser.parse_args(argv)
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    for line in requirements([args.pyproject, *args.also], extras):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
