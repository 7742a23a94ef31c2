"""deploy/kubernetes/: the Kustomize base and overlays, rendered and checked against the
Kubernetes API schemas (kubernetes-validate) and KEDA's own CRD schemas (tests/data/keda/)."""
from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kustomize_lite import build

from invoice.scanner.processing.celery_app import QUEUES, WORKER_PROFILES
from invoice.scanner.processing.celery_app import DEFAULT_RETRY

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"
TARGETS = ["base", "overlays/dev", "overlays/prod-gpu"]
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to work on (docs/deployment.md)
KEDA_CRDS = REPO / "tests" / "data" / "keda"


@functools.cache
def _rendered(target: str) -> list[dict]:
    return build(K8S / target)


def render(target: str) -> list[dict]:
    """The target's resources: rendered once per session, a copy of them for each caller."""
    return copy.deepcopy(_rendered(target))


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once():
    """kubernetes-validate reads and parses a kind's schema and the 1.3 MB `_definitions.json`
    on every validate call (87 here); the files do not change, so each is read once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kubernetes_validate.utils, "schema_contents",
                   functools.cache(kubernetes_validate.utils.schema_contents))
        yield


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict) -> dict:
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    return c


def test_generated_worker_manifests_are_up_to_date():
    out = subprocess.run([sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its kustomize) is not installed here")
@pytest.mark.parametrize("target", TARGETS)
def test_the_python_rendering_is_what_kustomize_renders(target):
    out = subprocess.run(["kubectl", "kustomize", str(K8S / target)], capture_output=True, text=True, check=True)
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in render(target)}
    assert theirs.keys() == ours.keys()
    for key in ours:
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("target", TARGETS)
def test_every_resource_is_valid_for_kubernetes(target):
    checked = 0
    for doc in render(target):
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any error
        checked += 1
    assert checked >= 2 * len(QUEUES) + 5  # a Deployment and a budget per queue; api, beat, job, config


@functools.cache
def _crd_schema(kind: str) -> dict:
    for path in KEDA_CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
            return version["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no vendored CRD for {kind}")


@pytest.mark.parametrize("target", TARGETS)
def test_keda_resources_are_valid_for_their_crds(target):
    keda = [d for d in render(target) if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}
    for doc in keda:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        jsonschema.validate(doc, _crd_schema(doc["kind"]))


def test_the_crd_schemas_catch_mistakes():
    # The vendored schema is not vacuous: a misspelt field type is refused.
    doc = by_kind(render("base"), "ScaledObject")["worker-ocr"]
    bad = {**doc, "spec": {**doc["spec"], "maxReplicaCount": "many"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _crd_schema("ScaledObject"))
    with pytest.raises(kubernetes_validate.ValidationError):
        deployment = by_kind(render("base"), "Deployment")["api"]
        kubernetes_validate.validate({**deployment, "spec": {**deployment["spec"], "replica": 2}},
                                     KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_queue_has_a_worker_a_budget_and_an_autoscaler(target):
    docs = render(target)
    deployments, pdbs, scaled = by_kind(docs, "Deployment"), by_kind(docs, "PodDisruptionBudget"), \
        by_kind(docs, "ScaledObject")
    workers = {n for n in deployments if n.startswith("worker-")}
    assert workers == {f"worker-{q}" for q in QUEUES}  # no queue without a worker, no worker without a queue
    for queue in QUEUES:
        name = f"worker-{queue}"
        d = deployments[name]
        args = container(d)["args"]
        assert args[:5] == ["python", "-m", "invoice.scanner.processing.worker", "--queue", queue]
        assert args[args.index("--concurrency") + 1] == str(WORKER_PROFILES[queue]["concurrency"])
        assert "replicas" not in d["spec"]  # KEDA owns the count
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
        so = scaled[name]
        assert so["spec"]["scaleTargetRef"]["name"] == name
        [trigger] = so["spec"]["triggers"]
        assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == queue
        assert trigger["authenticationRef"]["name"] in by_kind(docs, "TriggerAuthentication")
        policy = DEFAULT_RETRY.get(queue)
        if policy:  # a warm shutdown lets the running task reach its hard time limit
            assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > policy.time_limit_s


@pytest.mark.parametrize("target", TARGETS)
def test_probes_and_security(target):
    docs = render(target)
    for name, d in by_kind(docs, "Deployment").items():
        c = container(d)
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["allowPrivilegeEscalation"] is False
        assert "command" not in c, "args, not command: the image's entrypoint must run"
        assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
        if name == "beat":
            continue
        assert c["livenessProbe"] and c["readinessProbe"], name
        if name.startswith("worker-"):
            queue = name.removeprefix("worker-")
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert c[probe]["exec"]["command"] == ["python", "-m", "invoice.scanner.processing.healthcheck",
                                                       "--queue", queue, "--timeout", "10"]
    api = container(by_kind(docs, "Deployment")["api"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "httpGet" not in api["livenessProbe"], "a database outage must not restart the API"


SECRET_WORDS = ("URL", "KEY", "PASSWORD", "TOKEN", "SECRET")


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_come_from_the_cluster(target):
    docs = render(target)
    assert not by_kind(docs, "Secret"), "no Secret objects in the manifests: they exist in the cluster"
    for kind in ("Deployment", "Job"):
        for name, d in by_kind(docs, kind).items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                for env in c.get("env", []):
                    if env["name"] in {"DATABASE_URL", "REDIS_URL"} or any(
                            w in env["name"] for w in ("KEY", "PASSWORD", "TOKEN", "SECRET")):
                        assert "value" not in env and env["valueFrom"]["secretKeyRef"]["name"], (name, env)
    for cm in by_kind(docs, "ConfigMap").values():
        for key, value in cm["data"].items():
            assert not any(w in key for w in ("PASSWORD", "TOKEN", "SECRET", "API_KEY")), key
            assert "@" not in value, f"{key} looks like it carries credentials"
    auth = by_kind(docs, "TriggerAuthentication")["invoice-scanner-redis"]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"address", "password"}


def test_gpu_overlay_puts_ocr_on_gpu_nodes():
    gpu = by_kind(render("overlays/prod-gpu"), "Deployment")["worker-ocr"]
    pod, c = gpu["spec"]["template"]["spec"], container(gpu)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1" and c["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert c["image"].endswith("/invoice-scanner/ocr-gpu:0.1.0")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["OCR_ENGINE"] == "paddle" and env["OCR_USE_GPU"] == "true"
    assert "DATABASE_URL" in env, "the patch merged into the env list, it did not replace it"
    # Paddle on the GPU keeps its own recycling (PaddleOCR #11639); the CPU base takes the policy's.
    assert env["WORKER_MAX_TASKS_PER_CHILD"] == "50" and env["WORKER_MAX_MEMORY_PER_CHILD_KB"] == "5000000"
    base_env = {e["name"] for e in container(by_kind(render("base"), "Deployment")["worker-ocr"])["env"]}
    assert not {"WORKER_MAX_TASKS_PER_CHILD", "WORKER_MAX_MEMORY_PER_CHILD_KB"} & base_env
    # Everything else stays on CPU nodes, and no other overlay asks for a GPU.
    for target in ("base", "overlays/dev"):
        for d in by_kind(render(target), "Deployment").values():
            assert "nvidia.com/gpu" not in str(d)
    for name, d in by_kind(render("overlays/prod-gpu"), "Deployment").items():
        if name != "worker-ocr":
            assert "nvidia.com/gpu" not in str(d), name
    assert by_kind(render("overlays/prod-gpu"), "ScaledObject")["worker-ocr"]["spec"]["maxReplicaCount"] == 4


@pytest.mark.parametrize("target", TARGETS)
def test_singletons_api_and_migration(target):
    docs = render(target)
    beat = by_kind(docs, "Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    scalers = [*by_kind(docs, "ScaledObject").values(), *by_kind(docs, "HorizontalPodAutoscaler").values()]
    assert all(s["spec"]["scaleTargetRef"]["name"] != "beat" for s in scalers)
    assert container(beat)["args"][:4] == ["celery", "-A", "invoice.scanner.processing.celery_app", "beat"]

    hpa = by_kind(docs, "HorizontalPodAutoscaler")["api"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    service = by_kind(docs, "Service")["api"]
    api = by_kind(docs, "Deployment")["api"]
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container(api)["ports"]}
    assert by_kind(docs, "PodDisruptionBudget")["api"]["spec"]["minAvailable"] == 1

    job = by_kind(docs, "Job")["invoice-scanner-migrate"]
    assert container(job)["args"] == ["python", "-m", "invoice.scanner.processing.db.migrate"]
    if target != "base":
        namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
        assert len(namespaces) == 1 and None not in namespaces
        assert by_kind(docs, "Namespace").keys() == namespaces


@pytest.mark.parametrize("target", TARGETS)
def test_the_watched_folder_is_a_shared_claim_and_the_mail_key_a_cluster_secret(target):
    docs = render(target)
    config = by_kind(docs, "ConfigMap")["invoice-scanner-config"]["data"]
    claim = by_kind(docs, "PersistentVolumeClaim")["invoice-scanner-ingest"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # several ingest pods, and the scanners' share
    deployments = by_kind(docs, "Deployment")
    ingest = deployments["worker-ingest"]
    pod = ingest["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    [mount] = [m for m in container(ingest)["volumeMounts"] if "persistentVolumeClaim" in volumes[m["name"]]]
    assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mount["mountPath"] == config["INGEST_DIR"]  # beat schedules the poll only when INGEST_DIR is set
    for name, d in deployments.items():  # only the ingest worker holds the folder
        if name != "worker-ingest":
            assert "persistentVolumeClaim" not in str(d["spec"]["template"]["spec"].get("volumes", [])), name
    for name in ("api", "worker-mail"):  # the API encrypts the secrets, the mail worker decrypts them
        [env] = [e for e in container(deployments[name])["env"] if e["name"] == "MAIL_SECRET_KEY"]
        assert env["valueFrom"]["secretKeyRef"] == {"name": "invoice-scanner-secrets", "key": "mail-secret-key",
                                                    "optional": True}
    assert not any(e["name"] == "MAIL_SECRET_KEY" for e in container(deployments["worker-ocr"])["env"])
