"""A small kustomize: just the features deploy/k8s uses, so the overlay can be rendered and
validated without the kustomize binary (not packaged for Debian or PyPI).

Supported kustomization fields: `resources` (files and directories), `images` (newName,
newTag, digest), `replicas`, `patches` (JSON 6902 lists with a `target`, and strategic-merge
documents, including `$patch: delete`). Anything else is refused, so that a new feature in
the overlay is noticed here rather than silently ignored. When kubectl is present the tests
compare this renderer's output with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
_SUPPORTED = {"apiVersion", "kind", "resources", "images", "replicas", "patches"}
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class UnsupportedKustomization(Exception):
    pass


def _load_all(path: Path) -> list[Resource]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def build(directory: Path) -> list[Resource]:
    with (directory / "kustomization.yaml").open(encoding="utf-8") as f:
        kz: dict[str, Any] = yaml.safe_load(f)
    unknown = set(kz) - _SUPPORTED
    if unknown:
        raise UnsupportedKustomization(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kz.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build(path) if path.is_dir() else _load_all(path))
    for patch in kz.get("patches", []):
        resources = _apply_patch(directory, patch, resources)
    for spec in kz.get("replicas", []):
        hits = [r for r in resources if r["kind"] in _WORKLOADS and r["metadata"]["name"] == spec["name"]]
        if not hits:
            raise UnsupportedKustomization(f"replicas: no workload named {spec['name']}")
        for r in hits:
            r["spec"]["replicas"] = spec["count"]
    for image in kz.get("images", []):
        for r in resources:
            _set_image(r, image)
    return resources


def _containers(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if resource["kind"] in _WORKLOADS else {}
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def _set_image(resource: Resource, image: dict[str, Any]) -> None:
    for container in _containers(resource):
        ref: str = container["image"]
        name, sep, tag = ref.partition("@") if "@" in ref else ref.rpartition(":")
        if not sep:
            name, tag = ref, ""
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new_name}@{image['digest']}"
        else:
            new_tag = str(image.get("newTag", tag))
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    meta = resource["metadata"]
    return all(
        (
            target.get("kind") in (None, resource["kind"]),
            target.get("name") in (None, meta["name"]),
            target.get("namespace") in (None, meta.get("namespace")),
        )
    )


def _apply_patch(directory: Path, patch: dict[str, Any], resources: list[Resource]) -> list[Resource]:
    if "path" in patch:
        with (directory / patch["path"]).open(encoding="utf-8") as f:
            content = yaml.safe_load(f)
    else:
        content = yaml.safe_load(patch["patch"])
    if isinstance(content, list):
        target = patch.get("target")
        if not target:
            raise UnsupportedKustomization("a JSON 6902 patch needs a target")
        hits = [r for r in resources if _matches(r, target)]
        if not hits:
            raise UnsupportedKustomization(f"patch target {target} matches nothing")
        for r in hits:
            for op in content:
                _json6902(r, op)
        return resources
    meta = content["metadata"]
    ident = (content["kind"], meta["name"], meta.get("namespace"))
    hits = [
        r for r in resources if (r["kind"], r["metadata"]["name"], r["metadata"].get("namespace")) == ident
    ]
    if not hits:
        raise UnsupportedKustomization(f"strategic merge patch for {ident} matches nothing")
    if content.get("$patch") == "delete":
        return [r for r in resources if r not in hits]
    for r in hits:
        _merge(r, content)
    return resources


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            raise UnsupportedKustomization(f"strategic merge of the list {key!r} is not supported here")
        else:
            into[key] = copy.deepcopy(value)


def _tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise UnsupportedKustomization(f"bad JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _json6902(doc: Resource, op: dict[str, Any]) -> None:
    kind = op["op"]
    if kind not in {"add", "replace", "remove"}:
        raise UnsupportedKustomization(f"JSON patch op {kind!r} is not supported here")
    *parents, last = _tokens(op["path"])
    node: Any = doc
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    value = copy.deepcopy(op.get("value"))
    if isinstance(node, list):
        if kind == "add":
            node.insert(len(node) if last == "-" else int(last), value)
        elif kind == "replace":
            node[int(last)] = value
        else:
            del node[int(last)]
        return
    if kind == "replace" and last not in node:
        raise UnsupportedKustomization(f"replace of missing {op['path']}")
    if kind == "remove":
        del node[last]
    else:
        node[last] = value
