"""Render a Kustomize overlay in Python, for the manifest tests on machines without kustomize.

No kustomize binary comes from PyPI, npm or Debian's current packages (Debian's old
kubernetes-client 1.20 embeds kustomize 2.0.3, which predates `labels` and inline `patches`),
so the tests render the overlays themselves with the small, fixed subset of Kustomize that
deploy/kubernetes/ uses, and compare with `kubectl kustomize` wherever kubectl is installed
(tests/unit/test_kubernetes_manifests.py). The subset, with Kustomize's semantics:

- `resources`: files (multi-document YAML) and folders holding a kustomization.yaml;
- `patches`: a strategic-merge patch file (`path`), or an inline JSON 6902 patch (`patch`: a
  YAML list of add/replace/remove operations) applied to every resource its `target` selects
  (kind, name, both exact);
- `images`: newName/newTag for container images of that name;
- `namespace` on every resource; `labels` (pairs, without selectors or templates) on every
  resource's metadata.

Strategic merge: maps merge key by key, `null` deletes; the lists Kubernetes declares with a
merge key (containers, initContainers, env, volumes by name; volumeMounts by mountPath; ports
by containerPort) merge item by item; every other list is replaced. Anything outside the subset
raises, so an overlay cannot silently use a feature this renderer would get wrong.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it (the wheels are): the same documents, parsed
# about ten times faster than by the pure-Python SafeLoader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}
KNOWN = {"apiVersion", "kind", "resources", "patches", "images", "namespace", "labels"}
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"), "Pod": ("spec",),
}


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.load_all(path.read_text(), Loader=_LOADER) if d]


def strategic_merge(base: Any, patch: Any, field: str | None = None) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        # Kustomize's order: the patch's items first (merged with their base item), then the
        # base items the patch does not name, in their order.
        key = MERGE_KEYS[field]
        named = {item.get(key) for item in patch}
        out = []
        for item in patch:
            match = next((b for b in base if b.get(key) == item.get(key)), None)
            out.append(copy.deepcopy(item) if match is None else strategic_merge(match, item))
        return out + [copy.deepcopy(b) for b in base if b.get(key) not in named]
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json6902(doc: dict, ops: list[dict]) -> dict:
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if kind == "add":
                node.insert(index, op["value"])
            elif kind == "replace":
                node[index] = op["value"]
            elif kind == "remove":
                del node[index]
            else:
                raise ValueError(f"unsupported op {kind}")
        else:
            if kind in ("replace", "remove") and last not in node:
                raise KeyError(f"{op['path']} does not exist")
            if kind in ("add", "replace"):
                node[last] = op["value"]
            elif kind == "remove":
                del node[last]
            else:
                raise ValueError(f"unsupported op {kind}")
    return doc


def _selects(target: dict, doc: dict) -> bool:
    unknown = set(target) - {"kind", "name"}
    if unknown:
        raise ValueError(f"patch target fields {sorted(unknown)} are outside the supported subset")
    return (target.get("kind", doc["kind"]) == doc["kind"]
            and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"])


def _set_images(doc: dict, images: list[dict]) -> None:
    path = POD_SPEC_PATHS.get(doc.get("kind"))
    if not path:
        return
    spec: Any = doc
    for part in path:
        spec = spec.get(part, {})
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def build(folder: Path) -> list[dict]:
    folder = Path(folder)
    kust = yaml.load((folder / "kustomization.yaml").read_text(), Loader=_LOADER)
    unknown = set(kust) - KNOWN
    if unknown:
        raise ValueError(f"{folder}: kustomization fields {sorted(unknown)} are outside the supported subset")
    docs: list[dict] = []
    for entry in kust.get("resources", []):
        path = folder / entry
        docs.extend(build(path) if path.is_dir() else load_all(path))
    for patch in kust.get("patches", []):
        if "path" in patch:
            for smp in load_all(folder / patch["path"]):
                hits = [i for i, d in enumerate(docs)
                        if d["kind"] == smp["kind"] and d["metadata"]["name"] == smp["metadata"]["name"]]
                if len(hits) != 1:
                    raise ValueError(f"patch {patch['path']} matches {len(hits)} resources")
                docs[hits[0]] = strategic_merge(docs[hits[0]], smp)
        else:
            ops = yaml.load(patch["patch"], Loader=_LOADER)
            if not isinstance(ops, list):
                raise ValueError("inline patches must be JSON 6902 operation lists here")
            hits = [i for i, d in enumerate(docs) if _selects(patch.get("target", {}), d)]
            if not hits:
                raise ValueError(f"patch target {patch.get('target')} matches nothing")
            for i in hits:
                docs[i] = json6902(docs[i], ops)
    for doc in docs:
        _set_images(doc, kust.get("images", []))
        if kust.get("namespace") and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = kust["namespace"]
        for group in kust.get("labels", []):
            if set(group) - {"pairs"}:
                raise ValueError("labels with includeSelectors/includeTemplates are outside the supported subset")
            doc["metadata"].setdefault("labels", {}).update(group["pairs"])
    return docs
