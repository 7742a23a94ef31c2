"""The API's own OpenAPI document, fuzzed against the live stack by Schemathesis.

`schemathesis run` on `/openapi.json` with a bearer token: every check (no 5xx, status codes,
content types, headers and bodies as documented, negative data refused, positive data
accepted, the `Allow` header on 405, auth not ignored, ...), the examples, coverage, fuzzing
and stateful phases, a bounded number of examples per operation and a fixed seed so a failure
replays (`SCHEMATHESIS_SEED=...` to try another). Every endpoint added later is in the
document, so it is fuzzed too. 0 failures.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261201")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15")


@pytest.mark.timeout(900)
def test_the_openapi_document_holds_under_fuzzing(stack, tmp_path):
    email = "fuzz@schemathesis.test"
    stack.user("Fuzz Co", email)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(HERE),
           "SCHEMATHESIS_DATABASE_URL": stack.database_url, "SCHEMATHESIS_EMAIL": email}
    argv = [cli, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{stack.base}/openapi.json", "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", MAX_EXAMPLES,
            "--seed", SEED, "--workers", "1", "--request-timeout", "30",
            "--report", "junit", "--report-dir", str(tmp_path)]
    # cwd: Schemathesis keeps a `.schemathesis/` example cache in its working folder, not in the checkout.
    out = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=840)
    print(out.stdout[-20000:], out.stderr[-4000:])
    assert out.returncode == 0, f"schemathesis found failures (seed {SEED}):\n{out.stdout[-12000:]}\n{out.stderr[-3000:]}"
