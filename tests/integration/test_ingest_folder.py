"""The watched folder (INGEST_DIR) against real PostgreSQL and Redis: a file written slowly, a file
renamed into place, workers racing for the same files, refusals with a reason file, and the
ingest queue's real Celery worker picking a file up on its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf, queued_messages  # noqa: E402
from invoice.scanner.api.ingest_folder import CLAIMS, FolderIngest, slug
from invoice.scanner.api.services import ApiState

pytest_plugins = ["conftest_api"]  # the API fixtures

SETTLE = 0.3


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "ingest"
    path.mkdir()
    return path


@pytest.fixture
def state(api_config, root):
    return ApiState.build(api_config.with_overrides(ingest_dir=str(root)))


def _company_name(repo, company_id) -> str:
    with repo.tx() as cur:
        cur.execute("SELECT name FROM companies WHERE id = %s", (str(company_id),))
        return cur.fetchone()["name"]


def _documents(repo, company_id) -> list[dict]:
    with repo.tx() as cur:
        cur.execute("SELECT id, original_filename, source, source_detail, size_bytes, uploaded_by FROM documents "
                    "WHERE company_id = %s ORDER BY created_at", (str(company_id),))
        return cur.fetchall()


def _settled_scan(ingest: FolderIngest) -> list:
    """Two polls at least SETTLE apart: what a file complete before the first is taken on."""
    first = ingest.scan()
    time.sleep(SETTLE + 0.05)
    return first + ingest.scan()


def test_a_file_written_slowly_is_taken_only_once_it_stops_growing(state, repo, tenant, root, redis_client):
    folder = root / str(tenant.company_id)
    folder.mkdir()
    ingest = FolderIngest(state, root, settle_s=SETTLE)
    data = make_pdf(pages=3)
    path = folder / "slow.pdf"
    with open(path, "wb") as fh:
        for i in range(0, len(data), max(1, len(data) // 6)):
            fh.write(data[i:i + max(1, len(data) // 6)])
            fh.flush()
            time.sleep(SETTLE + 0.05)  # slower than the settle time: every poll sees it grow
            assert ingest.scan() == [] and path.exists()
    assert _documents(repo, tenant.company_id) == []
    (result,) = _settled_scan(ingest)
    assert result.code == 201 and result.moved_to.startswith(f"{tenant.company_id}/processed/")
    (doc,) = _documents(repo, tenant.company_id)
    assert doc["size_bytes"] == len(data) and doc["source"] == "folder" and doc["uploaded_by"] is None
    assert doc["source_detail"]["path"] == f"{tenant.company_id}/slow.pdf" and str(doc["id"]) == result.document_id
    assert not path.exists() and (root / result.moved_to).read_bytes() == data
    assert str(doc["id"]) in {m["args"][0] for m in queued_messages(redis_client)}  # the same outbox


def test_a_file_renamed_into_place_and_names_never_taken(state, repo, tenant, root):
    folder = root / slug(_company_name(repo, tenant.company_id))  # the company's slug works too
    folder.mkdir()
    ingest = FolderIngest(state, root, settle_s=SETTLE)
    data = make_image("PNG")
    (folder / "scan.png.part").write_bytes(data)
    (folder / ".hidden.pdf").write_bytes(make_pdf())
    (folder / "upload.tmp").write_bytes(make_pdf())
    assert _settled_scan(ingest) == []
    os.rename(folder / "scan.png.part", folder / "scan.png")
    (result,) = _settled_scan(ingest)
    assert result.code == 201
    assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["scan.png"]
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [".hidden.pdf", "upload.tmp"]


def test_refusals_go_to_failed_with_a_reason(state, repo, tenant, make_tenant, root):
    folder = root / str(tenant.company_id)
    folder.mkdir()
    other = root / "no-such-company"
    other.mkdir()
    (other / "lost.pdf").write_bytes(make_pdf())
    pdf = make_pdf()
    (folder / "a.pdf").write_bytes(pdf)
    (folder / "notes.txt").write_bytes(b"not an invoice")
    (folder / "empty.pdf").write_bytes(b"")
    ingest = FolderIngest(state, root, settle_s=SETTLE)
    results = {r.path.rsplit("/", 1)[-1]: r for r in _settled_scan(ingest)}
    assert {k: v.code for k, v in results.items()} == {"a.pdf": 201, "notes.txt": 415, "empty.pdf": 400}
    reason = json.loads((root / (results["notes.txt"].moved_to + ".reason.json")).read_text())
    assert reason["code"] == 415 and reason["reason"] == "unsupported_type" and reason["message"]
    # The same content again: a duplicate, with the existing document named.
    (folder / "a-again.pdf").write_bytes(pdf)
    (dup,) = _settled_scan(ingest)
    assert dup.code == 409 and dup.document_id == results["a.pdf"].document_id
    assert dup.moved_to.startswith(f"{tenant.company_id}/failed/")
    assert json.loads((root / (dup.moved_to + ".reason.json")).read_text())["document_id"] == dup.document_id
    assert (other / "lost.pdf").exists()  # a folder naming no company is left alone
    assert len(_documents(repo, tenant.company_id)) == 1


def test_two_workers_racing_on_one_folder_make_one_document_per_file(api_config, repo, tenant, root):
    folder = root / str(tenant.company_id)
    folder.mkdir()
    files = {f"inv-{i:02}.png": make_image("PNG", size=(40, 30)) for i in range(30)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    workers = [FolderIngest(ApiState.build(api_config), root, settle_s=SETTLE) for _ in range(2)]
    workers[0].scan()  # both workers share what Redis remembers: the files are seen once
    time.sleep(SETTLE + 0.05)
    barrier, taken = threading.Barrier(2), [[], []]

    def run(i: int) -> None:
        barrier.wait()
        taken[i] = workers[i].scan()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    names = [r.path.rsplit("/", 1)[-1] for r in taken[0] + taken[1]]
    assert sorted(names) == sorted(files)  # each file once, by one of the two
    assert all(r.code == 201 for r in taken[0] + taken[1])
    docs = _documents(repo, tenant.company_id)
    assert sorted(d["original_filename"] for d in docs) == sorted(files)
    assert len(list((folder / "processed").iterdir())) == 30 and not list((folder / CLAIMS).iterdir())


def test_a_dead_workers_claim_returns_to_the_folder(state, repo, tenant, root):
    folder = root / str(tenant.company_id)
    (folder / CLAIMS).mkdir(parents=True)
    stale = folder / CLAIMS / f"{time.time_ns() - int(3600e9)}_abcd1234_left.pdf"
    stale.write_bytes(make_pdf())
    ingest = FolderIngest(state, root, settle_s=SETTLE, claim_timeout_s=60)
    results = _settled_scan(ingest)
    assert [r.code for r in results] == [201] and not stale.exists()
    assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["left.pdf"]


def test_the_ingest_worker_polls_the_folder_on_its_own(api_config, api_database_url, api_redis_url, repo, tenant,
                                                        root, tmp_path):
    """The real ingest queue: a Celery worker with its beat, INGEST_DIR set, a file dropped in."""
    folder = root / str(tenant.company_id)
    folder.mkdir()
    env = {**os.environ, "DATABASE_URL": api_database_url, "REDIS_URL": api_redis_url, "BROKER_URL": "",
           "DOCUMENTS_DIR": str(tmp_path / "documents"), "INGEST_DIR": str(root), "INGEST_POLL_INTERVAL_S": "0.5",
           "INGEST_SETTLE_S": "0.3", "STORAGE_URL": ""}
    # Its output goes to a file: a pipe nobody reads fills up (beat logs every poll) and blocks the worker.
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "invoice.scanner.processing.worker", "--queue", "ingest",
                                   "--beat", "--loglevel", "INFO", "-s", str(tmp_path / "beat-schedule")],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        (folder / "dropped.pdf").write_bytes(make_pdf())
        deadline = time.monotonic() + 60
        processed = folder / "processed"
        # The document commits, then the file moves: wait for both.
        while time.monotonic() < deadline and not (processed.is_dir() and list(processed.iterdir())):
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        if not (processed.is_dir() and list(processed.iterdir())):
            left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
            raise AssertionError(f"nothing in processed/ after 60 s; the folder holds {left}; the worker said:\n"
                                 + log.read_text(errors="replace")[-4000:])
        (doc,) = _documents(repo, tenant.company_id)
        assert doc["source"] == "folder" and doc["original_filename"] == "dropped.pdf"
        assert len(list(processed.iterdir())) == 1 and not (folder / "dropped.pdf").exists()
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(30)
