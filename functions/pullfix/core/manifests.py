"""The container images in Kubernetes manifests (for `pullfix diagnose -f`). Pure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from pullfix.errors import PullfixError

__all__ = ["ManifestError", "images_in_manifests"]

_POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


class ManifestError(PullfixError, ValueError):
    """A manifest that cannot be read; the message says which document and why."""


def _walk(document: Any, where: str) -> Iterator[tuple[str, str]]:
    if not isinstance(document, dict):
        return
    kind = document.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
        for index, item in enumerate(document.get("items") or []):
            yield from _walk(item, f"{where} items[{index}]")
        return
    path = _POD_SPEC_PATHS.get(str(kind))
    if path is None:
        return
    spec: Any = document
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        raise ManifestError(f"{where}: {kind} has no pod spec at {'.'.join(path)}")
    name = (document.get("metadata") or {}).get("name") or "?"
    for list_name in _CONTAINER_LISTS:
        for container in spec.get(list_name) or []:
            if not isinstance(container, dict) or not isinstance(container.get("image"), str):
                raise ManifestError(f"{where}: {kind}/{name} has a container without an image")
            yield container["image"], f"{kind}/{name} {container.get('name', '?')}"


def images_in_manifests(text: str, source: str = "manifest") -> list[tuple[str, str]]:
    """(image, where it is used) for every container of every workload, in order."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source} is not valid YAML: {exc}") from exc
    found: list[tuple[str, str]] = []
    for index, document in enumerate(documents):
        found.extend(_walk(document, f"{source} document {index + 1}"))
    return found
