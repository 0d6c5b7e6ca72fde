"""Check the sandbox's REST responses against Google's official discovery documents.

The documents ship with google-api-python-client (a development dependency). In strict
mode every response the sandbox sends is checked here first; a violation is answered as
a 500 naming the field, so that no test can pass on a response Google would not send.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from pullfix.errors import PullfixError

__all__ = ["ContractViolation", "discovery_method", "response_violations", "schema_violations"]

_RFC3339_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")
_INT64_RE = re.compile(r"-?\d{1,19}")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


class ContractViolation(PullfixError):
    """A response that does not match its discovery schema."""


@cache
def _document(api: str) -> dict[str, Any]:
    """The discovery document `api` (e.g. `container.v1`)."""
    try:
        folder = resources.files("googleapiclient.discovery_cache").joinpath("documents")
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
        raise ContractViolation(
            "strict mode needs google-api-python-client for the discovery documents "
            "(pip install -e '.[dev]')"
        ) from exc
    doc: dict[str, Any] = json.loads(folder.joinpath(f"{api}.json").read_text())
    return doc


def _walk_methods(node: dict[str, Any]) -> Any:
    yield from node.get("methods", {}).values()
    for child in node.get("resources", {}).values():
        yield from _walk_methods(child)


@cache
def discovery_method(method_id: str, version: str) -> dict[str, Any]:
    """The discovery description of a method, by id (`container.projects.zones.clusters.get`)."""
    api = method_id.split(".", 1)[0]
    doc = _document(f"{api}.{version}")
    for method in _walk_methods(doc):
        if method["id"] == method_id:
            found: dict[str, Any] = method
            return found
    raise ContractViolation(f"{api}.{version} has no method {method_id}")


def response_violations(method_id: str, version: str, body: Any) -> list[str]:
    """Every way `body` departs from the method's response schema (empty: it conforms)."""
    method = discovery_method(method_id, version)
    schemas = _document(f"{method_id.split('.', 1)[0]}.{version}")["schemas"]
    ref = method.get("response", {}).get("$ref")
    if ref is None:
        return [] if body in ({}, None) else [f"{method_id} has no response body, got one"]
    problems: list[str] = []
    _check(body, {"$ref": ref}, schemas, ref, problems)
    return problems


def schema_violations(api: str, version: str, schema: str, body: Any) -> list[str]:
    """Every way `body` departs from a named schema of a discovery document."""
    schemas = _document(f"{api}.{version}")["schemas"]
    problems: list[str] = []
    _check(body, {"$ref": schema}, schemas, schema, problems)
    return problems


def _check(
    value: Any, schema: dict[str, Any], schemas: dict[str, Any], path: str, problems: list[str]
) -> None:
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], schemas, f"{path}.{key}", problems)
            elif extra is not None:
                _check(item, extra, schemas, f"{path}.{key}", problems)
            else:
                problems.append(f"{path}: unknown field {key!r}")
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(item, schema.get("items", {}), schemas, f"{path}[{index}]", problems)
    elif kind == "string":
        _check_string(value, schema, path, problems)
    elif kind == "integer":
        fmt = schema.get("format")
        if fmt in ("int64", "uint64") and isinstance(value, str):
            if not _INT64_RE.fullmatch(value):
                problems.append(f"{path}: {value!r} is not an {fmt}")
        elif not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer, got {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{path}: expected a boolean, got {value!r}")
    elif kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        problems.append(f"{path}: expected a number, got {value!r}")


def _check_string(value: Any, schema: dict[str, Any], path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: expected a string, got {value!r}")
        return
    fmt = schema.get("format")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    elif fmt == "google-datetime" and not _RFC3339_RE.fullmatch(value):
        problems.append(f"{path}: {value!r} is not an RFC 3339 timestamp")
    elif fmt == "byte" and not _BASE64_RE.fullmatch(value):
        problems.append(f"{path}: {value!r} is not base64")
    elif fmt in ("int64", "uint64") and not _INT64_RE.fullmatch(value):
        problems.append(f"{path}: {value!r} is not an {fmt}")
