"""The evolution rule for the casenotes schemas, checked mechanically.

A new version may only: add fields that have a default, remove fields that had a default,
append enum symbols, and change docs. Never rename, never change a type (unions included).
This is stricter than what Avro resolution allows, on purpose: new readers always read old
data (BACKWARD), and old readers also read new data (FORWARD) as long as no appended enum
symbol is actually written.
"""
from __future__ import annotations

from typing import Any

from .catalog import AvroSchema


def backward_problems(old: AvroSchema, new: AvroSchema) -> list[str]:
    """Why ``new`` may not replace ``old``; empty when it may."""
    return _record(old.source, new.source, old.source.get("name", "?"), old.source.get("namespace", ""))


def _fullname(t: dict[str, Any], namespace: str) -> str:
    name = t.get("name", "")
    return name if "." in name else f"{t.get('namespace', namespace)}.{name}".lstrip(".")


def _record(old: dict[str, Any], new: dict[str, Any], path: str, namespace: str) -> list[str]:
    problems: list[str] = []
    if _fullname(old, namespace) != _fullname(new, namespace):
        return [f"{path}: record renamed {_fullname(old, namespace)} -> {_fullname(new, namespace)}"]
    ns = new.get("namespace", namespace)
    old_fields = {f["name"]: f for f in old["fields"]}
    new_fields = {f["name"]: f for f in new["fields"]}
    for name, f in old_fields.items():
        if name not in new_fields and "default" not in f:
            problems.append(f"{path}.{name}: removed, but it has no default (renaming a field counts as removing it)")
    for name, f in new_fields.items():
        if name not in old_fields:
            if "default" not in f:
                problems.append(f"{path}.{name}: added without a default")
        else:
            problems += _type(old_fields[name]["type"], f["type"], f"{path}.{name}", ns)
    return problems


def _type(old: Any, new: Any, path: str, namespace: str) -> list[str]:
    if isinstance(old, list) or isinstance(new, list):
        if not (isinstance(old, list) and isinstance(new, list)) or len(old) != len(new):
            return [f"{path}: type changed {_show(old)} -> {_show(new)}"]
        return [p for i, (o, n) in enumerate(zip(old, new)) for p in _type(o, n, f"{path}[{i}]", namespace)]
    if isinstance(old, str) or isinstance(new, str):
        return [] if old == new else [f"{path}: type changed {_show(old)} -> {_show(new)}"]
    kind = old.get("type")
    if kind != new.get("type") or old.get("logicalType") != new.get("logicalType"):
        return [f"{path}: type changed {_show(old)} -> {_show(new)}"]
    if kind == "record":
        return _record(old, new, path, namespace)
    if kind == "enum":
        if _fullname(old, namespace) != _fullname(new, namespace):
            return [f"{path}: enum renamed {_fullname(old, namespace)} -> {_fullname(new, namespace)}"]
        o, n = old["symbols"], new["symbols"]
        if n[: len(o)] != o:
            return [f"{path}: enum symbols {o} -> {n} (symbols may only be appended)"]
        return []
    if kind == "array":
        return _type(old["items"], new["items"], f"{path}[]", namespace)
    if kind == "map":
        return _type(old["values"], new["values"], f"{path}{{}}", namespace)
    if kind == "fixed" and (old.get("size") != new.get("size") or _fullname(old, namespace) != _fullname(new, namespace)):
        return [f"{path}: fixed type changed"]
    return []


def _show(t: Any) -> str:
    if isinstance(t, list):
        return "[" + ", ".join(_show(x) for x in t) + "]"
    if isinstance(t, dict):
        return t.get("logicalType") or t.get("name") or t.get("type", "?")
    return str(t)


def optional_fields_without_default(schema: AvroSchema) -> list[str]:
    """Nullable fields must default to null so that producers (and evolution) may omit them."""
    return [f["name"] for f in schema.source["fields"]
            if isinstance(f["type"], list) and "null" in f["type"] and f.get("default", "missing") is not None]
