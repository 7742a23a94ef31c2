"""Write the per-queue worker manifests of the Kustomize base from the routing table.

    python deploy/kubernetes/generate.py          # rewrite base/workers/
    python deploy/kubernetes/generate.py --check  # exit 1 when base/workers/ is out of date

One Deployment, PodDisruptionBudget and KEDA ScaledObject per queue of
`celery_app.QUEUES`, with the queue's concurrency from `WORKER_PROFILES` and a grace period
that covers the stage's hard time limit (`celery_app.DEFAULT_RETRY`), so the queues are declared
once, in the Celery app module, here as in docker-compose. A queue added there gets its
worker by running this script; `make test` fails until it is run
(tests/unit/test_kubernetes_manifests.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from invoice.scanner.processing.celery_app import INGEST_QUEUE, MAIL_QUEUE, QUEUES, WORKER_PROFILES
from invoice.scanner.processing.celery_app import DEFAULT_RETRY

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "base" / "workers"
PART_OF = "invoice-scanner"

# CPU, memory requests/limits and scaling bounds per worker type. OCR on CPU (RapidOCR, one
# model per process) peaks near 1.2 GiB; rendering big scans is preprocessing's memory risk.
# Queues not listed (new ones) get DEFAULT.
DEFAULT = {"cpu": "250m", "memory": "256Mi", "memory_limit": "512Mi", "max_replicas": 4, "list_length": 20}
SIZING: dict[str, dict] = {
    "orchestrator": {"cpu": "100m", "memory": "256Mi", "memory_limit": "512Mi", "max_replicas": 4, "list_length": 50},
    "preprocessing": {"cpu": "500m", "memory": "1Gi", "memory_limit": "4Gi", "max_replicas": 10, "list_length": 5,
                      # Two processes, each running the orientation probe's detector: one ONNX
                      # Runtime thread each, or they fight over the pod's cores.
                      "env": {"WORKER_MAX_MEMORY_PER_CHILD_KB": "1500000", "OCR_THREADS": "1"}},
    "ocr": {"cpu": "2", "memory": "1536Mi", "memory_limit": "2Gi", "max_replicas": 10, "list_length": 2,
            # One process (concurrency 1) with the pod's two cores as ONNX Runtime threads; its
            # recycling is the OCR policy's (celery_app.RECYCLING: 1,000 tasks or 1.3 GB), the
            # GPU overlay sets Paddle's own.
            "env": {"OCR_THREADS": "2"},
            "startup_s": 300},
    "llm": {"cpu": "250m", "memory": "512Mi", "memory_limit": "2Gi", "max_replicas": 10, "list_length": 10},
    "extraction": {"cpu": "250m", "memory": "512Mi", "memory_limit": "1Gi", "max_replicas": 6, "list_length": 20},
    "evaluation": {"cpu": "250m", "memory": "512Mi", "memory_limit": "1Gi", "max_replicas": 6, "list_length": 20},
    "maintenance": {"cpu": "100m", "memory": "256Mi", "memory_limit": "512Mi", "max_replicas": 1, "list_length": 1},
    "webhooks": {"cpu": "100m", "memory": "256Mi", "memory_limit": "512Mi", "max_replicas": 4, "list_length": 50},
}


def secret(env: str, name: str, key: str, optional: bool = False) -> dict:
    ref = {"name": name, "key": key, **({"optional": True} if optional else {})}
    return {"name": env, "valueFrom": {"secretKeyRef": ref}}


# From Secrets that exist in the cluster (created by the operator or an external-secrets
# controller, docs/deployment.md); never written into a manifest.
SECRET_ENV = [
    secret("DATABASE_URL", "invoice-scanner-secrets", "database-url"),
    secret("REDIS_URL", "invoice-scanner-secrets", "redis-url"),
    secret("LLM_API_KEY", "invoice-scanner-secrets", "llm-api-key", optional=True),
    # Optional: with IRSA / workload identity the pod's service account carries the role.
    secret("AWS_ACCESS_KEY_ID", "invoice-scanner-storage", "access-key-id", optional=True),
    secret("AWS_SECRET_ACCESS_KEY", "invoice-scanner-storage", "secret-access-key", optional=True),
]


# The mail worker decrypts the mailboxes' passwords and OAuth2 tokens (the API encrypts them):
# the same Fernet key, optional so a deployment without mailboxes needs none.
QUEUE_SECRET_ENV = {
    MAIL_QUEUE: [secret("MAIL_SECRET_KEY", "invoice-scanner-secrets", "mail-secret-key", optional=True)],
}
# The watched folder: INGEST_DIR (the ConfigMap) on a ReadWriteMany claim, shared by every ingest
# pod (each file is claimed by an atomic rename) and by whatever writes into it (a scanner's
# share, an SFTP server); base/ingest-pvc.yaml.
INGEST_DIR = "/data/ingest"
INGEST_CLAIM = "invoice-scanner-ingest"


def grace_seconds(queue: str) -> int:
    """Warm shutdown lets a running task finish: the stage's hard time limit plus a margin."""
    policy = DEFAULT_RETRY.get(queue)
    return (policy.time_limit_s + 30) if policy else 60


def labels(queue: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"worker-{queue}", "app.kubernetes.io/component": "worker",
            "app.kubernetes.io/part-of": PART_OF}


def probe(queue: str, period: int, failures: int) -> dict:
    # The Celery ping of this pod's own node (`<queue>@<pod name>`, see healthcheck.py): fails
    # when the worker lost its broker or its main loop is wedged, not while a task is running.
    return {"exec": {"command": ["python", "-m", "invoice.scanner.processing.healthcheck", "--queue", queue,
                                 "--timeout", "10"]},
            "periodSeconds": period, "timeoutSeconds": 20, "failureThreshold": failures}


def deployment(queue: str) -> dict:
    size = {**DEFAULT, **SIZING.get(queue, {})}
    concurrency = WORKER_PROFILES.get(queue, {}).get("concurrency", 1)
    env = [{"name": k, "value": v} for k, v in sorted(size.get("env", {}).items())]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"worker-{queue}", "labels": labels(queue)},
        "spec": {
            # No `replicas`: KEDA owns the count (ScaledObject below), and a re-apply must not reset it.
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": f"worker-{queue}"}},
            "template": {
                "metadata": {"labels": labels(queue)},
                "spec": {
                    "terminationGracePeriodSeconds": grace_seconds(queue),
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                        "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "worker",
                        # The ingest and mail workers run the API's upload path: the api image has both packages.
                        "image": "invoice-scanner/api" if queue in (INGEST_QUEUE, MAIL_QUEUE) else "invoice-scanner/worker",
                        # args, not command: the image's entrypoint checks the scratch folder, then execs.
                        "args": ["python", "-m", "invoice.scanner.processing.worker", "--queue", queue,
                                    "--concurrency", str(concurrency)],
                        "envFrom": [{"configMapRef": {"name": "invoice-scanner-config"}}],
                        "env": [*SECRET_ENV, *QUEUE_SECRET_ENV.get(queue, []), *env],
                        "resources": {"requests": {"cpu": size["cpu"], "memory": size["memory"]},
                                      "limits": {"memory": size["memory_limit"]}},
                        "startupProbe": {**probe(queue, 10, max(3, size.get("startup_s", 120) // 10))},
                        "livenessProbe": probe(queue, 30, 3),
                        "readinessProbe": probe(queue, 30, 2),
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "scratch", "mountPath": "/data/documents"},
                                         {"name": "tmp", "mountPath": "/tmp"},
                                         *([{"name": "ingest", "mountPath": INGEST_DIR}]
                                           if queue == INGEST_QUEUE else [])],
                    }],
                    # Documents live in the bucket (STORAGE_URL); these hold only temporary copies.
                    "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                                *([{"name": "ingest", "persistentVolumeClaim": {"claimName": INGEST_CLAIM}}]
                                  if queue == INGEST_QUEUE else [])],
                },
            },
        },
    }


def pdb(queue: str) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"worker-{queue}", "labels": labels(queue)},
        # One pod at a time: a drained node never takes a whole stage away at once. maxUnavailable
        # (not minAvailable) so a Deployment scaled to zero by KEDA never blocks a drain.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": f"worker-{queue}"}}},
    }


def scaled_object(queue: str) -> dict:
    size = {**DEFAULT, **SIZING.get(queue, {})}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"worker-{queue}", "labels": labels(queue)},
        "spec": {
            "scaleTargetRef": {"name": f"worker-{queue}"},
            "minReplicaCount": 1,
            "maxReplicaCount": size["max_replicas"],
            "pollingInterval": 15,
            # Longer than a task, so a scale-down does not interrupt work in progress needlessly.
            "cooldownPeriod": max(300, grace_seconds(queue)),
            "triggers": [{
                # Celery's Redis transport keeps each queue as a Redis list named after it.
                "type": "redis",
                "metadata": {"listName": queue, "listLength": str(size["list_length"]), "databaseIndex": "0"},
                "authenticationRef": {"name": "invoice-scanner-redis"},
            }],
        },
    }


def render(queue: str) -> str:
    head = (f"# Generated by deploy/kubernetes/generate.py from celery_app.QUEUES: do not edit.\n"
            f"# The `{queue}` queue's worker, its disruption budget and its autoscaler.\n")
    docs = [deployment(queue), pdb(queue), scaled_object(queue)]
    return head + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=110) for d in docs)


def files() -> dict[Path, str]:
    out = {WORKERS / f"{queue}.yaml": render(queue) for queue in QUEUES}
    out[WORKERS / "kustomization.yaml"] = (
        "# Generated by deploy/kubernetes/generate.py: one file per queue of celery_app.QUEUES.\n"
        + yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                          "resources": [f"{q}.yaml" for q in QUEUES]}, sort_keys=False))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether base/workers/ is up to date")
    args = parser.parse_args(argv)
    wanted = files()
    present = set(WORKERS.glob("*.yaml")) if WORKERS.exists() else set()
    stale = sorted(str(p.relative_to(HERE)) for p in present - set(wanted))
    changed = sorted(str(p.relative_to(HERE)) for p, text in wanted.items()
                     if not p.exists() or p.read_text() != text)
    if args.check:
        if stale or changed:
            print(f"out of date: {changed + stale}; run python deploy/kubernetes/generate.py", file=sys.stderr)
            return 1
        return 0
    WORKERS.mkdir(parents=True, exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text)
    for name in stale:
        (HERE / name).unlink()
    print(f"wrote {len(wanted)} files in {WORKERS.relative_to(HERE)}" + (f", removed {stale}" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
