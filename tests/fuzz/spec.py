"""docs/openapi.yaml, with the admin API's own document (authserver/admin/openapi.py, served at
/admin/api/v1/openapi.json) merged in, read into what the fuzzer needs: operations, their parameters
and form fields."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM = "application/x-www-form-urlencoded"


ADMIN_PREFIX = "/admin/api/v1"


def _admin_refs(node: object) -> object:
    """The admin document's $refs renamed into the merged document (schema X becomes AdminX)."""
    if isinstance(node, dict):
        return {
            k: ("#/components/schemas/Admin" + v.split("/")[-1] if k == "$ref" else _admin_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_admin_refs(v) for v in node]
    return node


@cache
def load() -> dict:
    from authserver.admin.openapi import DOCUMENT

    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    admin = _admin_refs(copy.deepcopy(DOCUMENT))
    assert isinstance(admin, dict)
    for name, schema in admin["components"]["schemas"].items():
        document["components"]["schemas"]["Admin" + name] = schema
    document["components"]["securitySchemes"].update(admin["components"]["securitySchemes"])
    for path, item in admin["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                op["operationId"] = "admin_" + method + path.replace("/", "_").replace("{", "").replace("}", "")
        document["paths"][ADMIN_PREFIX + path] = item
    return document


def resolve(node: object, spec: dict | None = None) -> object:
    """Follow local $refs (JSON pointers into this document) until a non-$ref node."""
    spec = spec or load()
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported: {ref}")
        target: object = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target[part]  # type: ignore[index]
        node = target
        seen += 1
        if seen > 50:
            raise ValueError(f"$ref loop at {ref}")
    return node


def form_variants(schema: object) -> list[dict[str, dict]]:
    """The alternative sets of form fields a body schema allows: oneOf/anyOf branch out, allOf merges."""
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return [{}]
    variants: list[dict[str, dict]] = [{}]
    for part in schema.get("allOf", []):
        variants = [{**a, **b} for a in variants for b in form_variants(part)]
    own = {name: resolve(prop) for name, prop in schema.get("properties", {}).items()}
    required = set(schema.get("required", []))
    own = {name: {**prop, "x-required": name in required} for name, prop in own.items()}  # type: ignore[dict-item]
    variants = [{**v, **own} for v in variants]
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        variants = [{**v, **alt} for v in variants for a in alternatives for alt in form_variants(a)]
    # A field required by any part stays required.
    for variant in variants:
        for name, prop in list(variant.items()):
            if prop.get("x-required") is None:
                variant[name] = {**prop, "x-required": False}
    return variants


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str
    query: dict[str, dict] = field(default_factory=dict)  # name -> schema (with x-required)
    forms: tuple[dict[str, dict], ...] = ()  # alternative form-field sets; () when there is no body
    body_required: bool = False
    security: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    @property
    def has_form(self) -> bool:
        return bool(self.forms)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _param_schema(param: dict) -> dict:
    if "schema" in param:
        schema = resolve(param["schema"])
    else:  # `content`: a serialised value (e.g. the JSON `claims` parameter)
        media = next(iter(param["content"].values()))
        schema = {
            "type": "string",
            "contentMediaType": next(iter(param["content"])),
            "contentSchema": media["schema"],
        }
    return {**schema, "x-required": bool(param.get("required"))}  # type: ignore[dict-item]


@cache
def operations() -> tuple[Operation, ...]:
    spec = load()
    found = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            query = {}
            for raw in [*shared, *op.get("parameters", [])]:
                param = resolve(raw)
                if param["in"] == "query":  # type: ignore[index]
                    query[param["name"]] = _param_schema(param)  # type: ignore[index]
            forms: tuple[dict[str, dict], ...] = ()
            body = resolve(op.get("requestBody")) if op.get("requestBody") else None
            if body:
                content = body["content"]  # type: ignore[index]
                if FORM in content:
                    forms = tuple(form_variants(content[FORM]["schema"]))
            security = op.get("security", spec.get("security", []))
            schemes = tuple(sorted({name for requirement in security for name in requirement}))
            found.append(
                Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    query=query,
                    forms=forms,
                    body_required=bool(body and body.get("required")),
                    security=schemes,  # type: ignore[union-attr]
                    statuses=tuple(op.get("responses", {})),
                )
            )
    return tuple(found)


def by_id(operation_id: str) -> Operation:
    return next(op for op in operations() if op.operation_id == operation_id)


def all_refs(node: object = ...) -> list[str]:
    """Every $ref in the document (to check that each one resolves)."""
    node = load() if node is ... else node
    refs: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            refs.append(node["$ref"])
        for value in node.values():
            refs.extend(all_refs(value))
    elif isinstance(node, list):
        for value in node:
            refs.extend(all_refs(value))
    return refs
