"""`make run` and the test stacks start gunicorn with --preload (devstack.Stack): the app is
imported in the master and its workers are forked from it. That is safe only while importing
the app opens no connection and starts no thread, which a fork would copy half-made."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from invoice.scanner.processing.devstack import Stack


def test_the_api_is_preloaded_by_the_stacks_gunicorn(tmp_path):
    stack = Stack({}, tmp_path, with_flower=False, with_beat=False)
    stack.define()
    argv = stack.procs["api"].argv
    assert "--preload" in argv and argv[-1] == "invoice.scanner.api.wsgi:app"


def test_importing_the_app_opens_no_connection_and_starts_no_thread():
    probe = ("import json, threading\n"
             "import invoice.scanner.api.wsgi\n"
             "from invoice.scanner.processing.db import connection\n"
             "print(json.dumps({'threads': [t.name for t in threading.enumerate()],\n"
             "                  'pools': len(connection._pools)}))\n")
    # Nothing answers at these addresses: an import that connected would fail or hang here.
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"threads": ["MainThread"], "pools": 0}
