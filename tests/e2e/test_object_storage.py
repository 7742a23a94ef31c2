"""Two worker sets, each with its own documents folder and no filesystem in common, process
documents together through an S3 bucket (a local server speaking the S3 wire protocol).

Set A runs the API, the orchestrator, preprocessing and llm; set B runs ocr, extraction,
evaluation and maintenance. Every document therefore crosses from one set to the other between
preprocessing (which writes the page images) and OCR (which reads them): if any stage relied
on a local file, the document would fail.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from invoicegen import generate

from invoice.scanner.processing.celery_app import QUEUES
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.devstack import EmbeddedRedis, Stack, free_port, stack_env, wait_for

from invoice.scanner.processing.status import TERMINAL_STATUSES

pytestmark = pytest.mark.e2e
pytest_plugins = ["s3server"]
TERMINAL = {s.value for s in TERMINAL_STATUSES}
FAST_RETRIES = {f"{s}_RETRY_BACKOFF_S": "1" for s in ("PREPROCESSING", "OCR", "LLM", "EXTRACTION", "EVALUATION")}

SET_A = ("orchestrator", "preprocessing", "llm")
SET_B = tuple(q for q in QUEUES if q not in SET_A)  # ocr, extraction, evaluation, maintenance, ...


class Client:
    def __init__(self, base: str, env: dict, company: str, email: str, password: str = "correct-horse-battery"):
        import requests

        subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", "create-user", "--company", company,
                        "--email", email, "--password", password, "--if-missing"], env=env, check=True,
                       capture_output=True)
        self.base, self.session = base, requests.Session()
        r = self.session.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=10)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def upload(self, data: bytes, filename: str):
        return self.session.post(f"{self.base}/documents/upload", files={"file": (filename, data)}, timeout=30)

    def get(self, path: str):
        return self.session.get(f"{self.base}{path}", timeout=10)

    def wait_terminal(self, document_id: str, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.get(f"/documents/{document_id}/status").json()
            if body["status"] in TERMINAL:
                return body
            time.sleep(0.5)
        raise AssertionError(f"document {document_id} not terminal after {timeout_s}s")


def _logs(*stacks: Stack) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_path.read_text(errors='replace')[-3000:]}"
                     for s in stacks for p in s.procs.values() if p.log_path.exists())


def _worker_set(env: dict, log_dir: Path, queues: tuple[str, ...], node: str, with_api: bool) -> Stack:
    stack = Stack(env, log_dir, api_port=free_port(), with_flower=False, with_beat=False, with_api=with_api,
                  worker_concurrency=1)
    stack.define()
    for queue in QUEUES:
        name = f"worker-{queue}"
        if queue not in queues:
            del stack.procs[name]
        else:
            stack.procs[name].argv += ["-n", f"{queue}@{node}"]  # the last -n wins
    return stack


@pytest.fixture
def two_sets(services, fresh_database, drop_database, tmp_path, s3_server):
    from celery import Celery

    bucket = s3_server.new_bucket()
    database_url = fresh_database(f"invoice_scanner_e2e_s3_{os.getpid()}")
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_url = urlparse(redis_server.start())._replace(path="/1").geturl()
    svc = type(services)(database_url, redis_url)
    extra = {**FAST_RETRIES, "STORAGE_URL": s3_server.storage_url(bucket), "AWS_ACCESS_KEY_ID": "testing",
             "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env_a = stack_env(svc, tmp_path / "host-a" / "documents", extra)
    env_b = stack_env(svc, tmp_path / "host-b" / "documents", extra)
    a = _worker_set(env_a, tmp_path / "host-a" / "logs", SET_A, "host-a", with_api=True)
    b = _worker_set(env_b, tmp_path / "host-b" / "logs", SET_B, "host-b", with_api=False)
    a.start()
    b.start()
    try:
        expected = {f"{q}@host-a" for q in SET_A} | {f"{q}@host-b" for q in SET_B}
        client = Celery(broker=redis_url)

        missing = set(expected)

        def up() -> bool:
            # By name: the ping returns as soon as every worker not heard yet has answered.
            replies = client.control.ping(destination=sorted(missing), timeout=1.0) or []
            missing.difference_update(name for reply in replies for name in reply)
            return not missing

        wait_for(up, 180, "both worker sets", interval=0.2)
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{a.api_port}/health"), 60, "the API")
        yield a, b, env_a, database_url, bucket, tmp_path
    finally:
        for proc in (*a.procs.values(), *b.procs.values()):  # both sets told at once: the shutdowns overlap
            proc.signal(signal.SIGTERM)
        a.stop()
        b.stop()
        redis_server.stop()
        drop_database(database_url)


def _http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_worker_sets_without_a_shared_filesystem(two_sets, s3_server):
    a, b, env, database_url, bucket, root = two_sets
    api = Client(f"http://127.0.0.1:{a.api_port}", env, "Acme Buyer", "ap@acme.test")
    invoices = [generate(seed=1601, kind="born_digital", language="en", pages=1),
                generate(seed=1602, kind="scanned", language="en")]
    ids = []
    for inv in invoices:
        r = api.upload(inv.data, inv.filename)
        assert r.status_code == 201, r.text
        ids.append(r.json()["document"]["id"])

    for doc_id in ids:
        status = api.wait_terminal(doc_id, timeout_s=300)
        assert status["status"] in {"approved", "manual_review"}, (status, _logs(a, b))

    keys = s3_server.keys(bucket)
    repo = Repository(database_url)
    for doc_id in ids:
        history = repo.history(doc_id)
        hosts = {h["stage"]: h["worker_host"] for h in history if h["stage"] and h["worker_host"]}
        assert hosts["preprocessing"] == "preprocessing@host-a" and hosts["ocr"] == "ocr@host-b", hosts
        assert hosts["evaluation"] == "evaluation@host-b", hosts
        assert any(k.endswith(f"{doc_id}/original.pdf") or k.endswith(f"{doc_id}/original.png") for k in keys), keys

    # The scan was OCR'd on host B from the page image host A wrote into the bucket.
    scan = ids[1]
    assert any(k.endswith(f"{scan}/pages/page-0001.png") for k in keys), keys
    ocr = [h for h in repo.history(scan) if h["stage"] == "ocr" and h["detail"] and "engines" in h["detail"]]
    assert ocr[0]["detail"]["engines"] != ["pdf-text"]
    # The web client's page image comes from the bucket through the API (on host A).
    page = api.get(f"/documents/{scan}/pages/1/image")
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")

    # Neither host wrote a document file to its own folder (temporary copies are deleted).
    for host in ("host-a", "host-b"):
        folder = root / host / "documents"
        files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
        assert files == [], (host, files)
