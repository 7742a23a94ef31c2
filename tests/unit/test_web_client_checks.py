"""The web client's own checks, run by `make test` (no services needed):
its API types match the API's OpenAPI document, its Vitest component tests pass, and the
production build keeps its first screen within the bundle budget with no inline script."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "frontend.react"


def _node():
    spec = importlib.util.spec_from_file_location("web_node", WEB / "scripts" / "node.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _npm(node, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*node.npm_argv(), *args], cwd=WEB, env=node.node_env(), capture_output=True, text=True,
                          timeout=600)


def test_api_types_match_the_openapi_document():
    node = _node()
    node.ensure_modules()
    result = _npm(node, "run", "check:api")
    assert result.returncode == 0, result.stdout + result.stderr


def test_component_tests_pass():
    node = _node()
    node.ensure_modules()
    result = _npm(node, "test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and " failed" not in output


def test_first_screen_is_within_the_bundle_budget():
    node = _node()
    node.build()
    result = subprocess.run([str(node.node_bin_dir() / "node"), "scripts/check-budget.mjs"], cwd=WEB,
                            env=node.node_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "first screen JavaScript" in result.stdout
