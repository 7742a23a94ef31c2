"""Pool process recycling per worker type (celery_app.RECYCLING): the text stages by size with a
high task count as a backstop, OCR by size and by count, the environment over both, and
worker.py handing the result to Celery."""
from __future__ import annotations

import pytest

from invoice.scanner.processing import worker as worker_module
from invoice.scanner.processing.celery_app import (QUEUES, RECYCLING, STAGE_POLICIES, STAGE_QUEUES, Recycling,
                                                   configure, create_app, recycling)
from invoice.scanner.processing.config import Settings

TEXT_QUEUES = [q for q in QUEUES if q != "ocr"]
# A re-forked child pays its start-up again: about 1.2 s of CPU for evaluation's Saxon
# stylesheets, the most of any text stage. Over this many tasks that stays under 1 ms per task.
MIN_TEXT_TASKS = 1000


def test_every_queue_has_a_policy_and_every_stage_declares_its_own():
    assert set(RECYCLING) == set(QUEUES)
    for stage in STAGE_QUEUES:
        assert RECYCLING[stage] is STAGE_POLICIES[stage].recycling


@pytest.mark.parametrize("queue", TEXT_QUEUES)
def test_text_workers_are_recycled_by_size_not_every_few_hundred_tasks(queue):
    policy = RECYCLING[queue]
    assert policy.max_memory_kb and policy.max_memory_kb > 0, "a growing process must still be replaced"
    assert policy.max_tasks is None or policy.max_tasks >= MIN_TEXT_TASKS


def test_ocr_is_guarded_by_size_and_by_count():
    ocr = RECYCLING["ocr"]
    assert ocr.max_memory_kb and ocr.max_tasks
    # The bound on an OCR worker's peak RSS is 1.2 GiB: the guard acts near it.
    assert ocr.max_memory_kb * 1024 <= 1.3 * 1024**3


def test_environment_sets_one_worker_over_the_policy():
    default = Settings.from_env({})
    assert recycling("llm", default) == RECYCLING["llm"]
    count = Settings.from_env({"WORKER_MAX_TASKS_PER_CHILD": "50"})
    assert recycling("ocr", count) == Recycling(max_tasks=50, max_memory_kb=RECYCLING["ocr"].max_memory_kb)
    assert recycling("llm", count).max_tasks == 50
    size = Settings.from_env({"WORKER_MAX_MEMORY_PER_CHILD_KB": "5000000"})
    assert recycling("evaluation", size) == Recycling(max_tasks=RECYCLING["evaluation"].max_tasks,
                                                      max_memory_kb=5_000_000)


def test_zero_in_the_environment_means_no_limit_by_that_measure():
    off = Settings.from_env({"WORKER_MAX_TASKS_PER_CHILD": "0", "WORKER_MAX_MEMORY_PER_CHILD_KB": "0"})
    assert recycling("ocr", off) == Recycling(max_tasks=None, max_memory_kb=None)


def _celery_argv(monkeypatch, queue: str, env: dict[str, str]) -> list[str]:
    captured: list[list[str]] = []
    monkeypatch.setattr(worker_module, "run_celery_worker", lambda argv: captured.append(argv))
    monkeypatch.setattr(worker_module, "get_settings", lambda: Settings.from_env(env))
    worker_module.main(["--queue", queue])
    [argv] = captured
    return argv


def _option(argv: list[str], name: str) -> int | None:
    return int(argv[argv.index(name) + 1]) if name in argv else None


@pytest.mark.parametrize("queue", ["ocr", "llm", "evaluation", "orchestrator"])
def test_worker_passes_its_queues_recycling_to_celery(monkeypatch, queue):
    argv = _celery_argv(monkeypatch, queue, {})
    assert _option(argv, "--max-tasks-per-child") == RECYCLING[queue].max_tasks
    assert _option(argv, "--max-memory-per-child") == RECYCLING[queue].max_memory_kb


def test_worker_passes_the_environments_values(monkeypatch):
    argv = _celery_argv(monkeypatch, "llm", {"WORKER_MAX_TASKS_PER_CHILD": "200",
                                             "WORKER_MAX_MEMORY_PER_CHILD_KB": "0"})
    assert _option(argv, "--max-tasks-per-child") == 200
    assert "--max-memory-per-child" not in argv


def test_celery_configuration_takes_the_environment_for_workers_started_otherwise():
    app = create_app(Settings.from_env({}))
    assert app.conf.worker_max_tasks_per_child is None and app.conf.worker_max_memory_per_child is None
    configure(app, Settings.from_env({"WORKER_MAX_TASKS_PER_CHILD": "200",
                                      "WORKER_MAX_MEMORY_PER_CHILD_KB": "900000"}))
    assert app.conf.worker_max_tasks_per_child == 200 and app.conf.worker_max_memory_per_child == 900_000


def _compose_memory_bytes(value: str) -> int:
    number, unit = value[:-1], value[-1].lower()
    return int(number) * {"k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def test_a_child_is_replaced_before_its_container_reaches_its_limit():
    """docker-compose: each worker service's per-child size in effect (its environment over the
    policy) is below the service's memory limit."""
    import yaml
    from pathlib import Path

    services = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())["services"]
    checked = 0
    for name, svc in services.items():
        command = svc.get("command") or []
        if "invoice.scanner.processing.worker" not in command:
            continue
        queue = command[command.index("--queue") + 1]
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        per_child_kb = recycling(queue, Settings.from_env(env)).max_memory_kb
        limit = _compose_memory_bytes(svc["deploy"]["resources"]["limits"]["memory"])
        assert per_child_kb and per_child_kb * 1024 < limit, name
        checked += 1
    assert checked == len(QUEUES)


def test_the_cpu_ocr_override_keeps_the_policys_task_count():
    """docker-compose.cpu.yml's OCR worker (RapidOCR) replaces the GPU worker's 50 tasks (Paddle)
    by the OCR policy's count: a plain merge would keep the 50."""
    import yaml
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    gpu = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]["worker_ocr"]["environment"]
    cpu_text = (repo / "docker-compose.cpu.yml").read_text().replace("!reset", "")
    cpu = yaml.safe_load(cpu_text)["services"]["worker_ocr"]["environment"]
    assert gpu["WORKER_MAX_TASKS_PER_CHILD"] == "50"
    assert int(cpu["WORKER_MAX_TASKS_PER_CHILD"]) == RECYCLING["ocr"].max_tasks
