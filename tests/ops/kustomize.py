"""Render a kustomization: with `kubectl kustomize` when kubectl is installed, else with a minimal
renderer that knows exactly the kustomize features deploy/k8s uses (and refuses any other)."""

import copy
import shutil
import subprocess
from pathlib import Path

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "labels", "images", "replicas", "patches"}
# Kinds the namespace transformer leaves alone (cluster-scoped).
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "PriorityClass"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render_with_kubectl(directory: Path) -> list[dict]:
    done = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def render(directory: Path) -> list[dict]:
    return render_with_kubectl(directory) if kubectl() else render_minimal(directory)


def key(resource: dict) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def render_minimal(directory: Path) -> list[dict]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
    unknown = set(spec) - SUPPORTED_FIELDS
    if unknown:
        raise NotImplementedError(f"{directory}: the minimal renderer does not know {sorted(unknown)}")
    resources: list[dict] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += render_minimal(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    by_key = {key(r): r for r in resources}
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise NotImplementedError(f"only file patches matched by kind and name: {patch}")
        for body in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = by_key[key(body)]
            merged = _merge(target, body)
            target.clear()
            target.update(merged)
    for label in spec.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise NotImplementedError("labels on selectors or templates")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for container in _containers(resources):
            name, tag = _split_image(container["image"])
            if name == image["name"]:
                name, tag = image.get("newName", name), image.get("newTag", tag)
                container["image"] = f"{name}:{tag}" if tag else name
    for replicas in spec.get("replicas", []):
        by_key[("Deployment", replicas["name"])]["spec"]["replicas"] = replicas["count"]
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    return resources


def _containers(resources: list[dict]):
    for resource in resources:
        if resource["kind"] in POD_TEMPLATE_KINDS:
            pod = resource["spec"]["template"]["spec"]
            yield from pod.get("initContainers", [])
            yield from pod.get("containers", [])


def _split_image(image: str) -> tuple[str, str]:
    """`registry:5000/app:1.2` -> (`registry:5000/app`, `1.2`): a tag colon comes after the last slash."""
    slash = image.rfind("/")
    colon = image.rfind(":")
    return (image[:colon], image[colon + 1:]) if colon > slash else (image, "")


def _merge(base, patch):
    """Strategic merge as far as these manifests need: maps merge, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            merged[name] = _merge(base[name], value) if name in base else copy.deepcopy(value)
        return merged
    if _named_list(base) and _named_list(patch):
        merged = [copy.deepcopy(item) for item in base]
        index = {item["name"]: i for i, item in enumerate(merged)}
        for item in patch:
            if item["name"] in index:
                merged[index[item["name"]]] = _merge(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _named_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)
