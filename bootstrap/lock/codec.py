"""Package records to and from the JSON values of a lock file. Pure; names no family.

A lock keeps each chosen package as its index described it, so a build from the lock installs,
registers and configures it exactly as a resolving build would without reading the index.
Every `Package` field round-trips except `index_order` (a resolver tie-break, not needed once
resolved). Relations are written compactly: `"name"` for a bare name, `[name, op, version]`
for a versioned one, an object with only the keys that differ from the defaults otherwise.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from bootstrap.errors import LockError
from bootstrap.types import Checksum, Dependency, Package, Relation

# The identity fields, written first on each package's line (the rest goes under "meta").
_HEAD = ("name", "version", "arch", "repo", "location", "size", "checksums")
_DEPENDENCIES = ("depends", "pre_depends", "conflict_clauses", "recommends", "suggests",
                 "supplements", "enhances")
_RELATIONS = ("provides", "conflicts", "obsoletes", "replaces", "install_if")
_SKIPPED = ("index_order",)
_DEFAULTS = {f.name: f.default for f in fields(Package)}


def relation_to_json(rel: Relation) -> Any:
    """A relation as the lock writes it (see the module docstring)."""
    if rel.arch is None and not rel.negated and not rel.narrow:
        return rel.name if rel.op is None else [rel.name, rel.op, rel.version]
    out: dict[str, Any] = {"name": rel.name}
    if rel.op is not None:
        out["op"], out["version"] = rel.op, rel.version
    if rel.arch is not None:
        out["arch"] = rel.arch
    if rel.negated:
        out["negated"] = True
    if rel.narrow:
        out["narrow"] = [relation_to_json(r) for r in rel.narrow]
    return out


def relation_from_json(value: Any) -> Relation:
    """The inverse of relation_to_json; LockError for anything else."""
    try:
        if isinstance(value, str):
            return Relation(value)
        if isinstance(value, list) and len(value) == 3:
            return Relation(str(value[0]), str(value[1]), str(value[2]))
        if isinstance(value, dict):
            return Relation(str(value["name"]), value.get("op"), value.get("version"), value.get("arch"),
                            bool(value.get("negated", False)),
                            tuple(relation_from_json(v) for v in value.get("narrow", ())))
    except (KeyError, TypeError, ValueError) as exc:
        raise LockError(f"cannot read the relation {value!r} ({exc})") from None
    raise LockError(f"cannot read the relation {value!r}")


def package_to_json(pkg: Package) -> dict[str, Any]:
    """Every field of `pkg` that is not its default, as JSON values."""
    out: dict[str, Any] = {"name": pkg.name, "version": pkg.version, "arch": pkg.arch,
                           "repo": pkg.repo, "url": pkg.location, "size": pkg.size,
                           "checksums": {c.algo: c.hexdigest for c in pkg.checksums}}
    meta: dict[str, Any] = {}
    for f in fields(Package):
        if f.name in _HEAD or f.name in _SKIPPED:
            continue
        value = getattr(pkg, f.name)
        if value == _DEFAULTS[f.name]:
            continue
        if f.name in _DEPENDENCIES:
            meta[f.name] = [[relation_to_json(r) for r in dep] for dep in value]
        elif f.name in _RELATIONS:
            meta[f.name] = [relation_to_json(r) for r in value]
        elif f.name == "fields":
            meta[f.name] = [[k, v] for k, v in value]
        elif f.name == "files":
            meta[f.name] = list(value)
        else:
            meta[f.name] = value
    if meta:
        out["meta"] = meta
    return out


def package_from_json(value: Mapping[str, Any]) -> Package:
    """The Package a lock line describes; LockError naming it when the line is malformed."""
    name = str(value.get("name", "?")) if isinstance(value, Mapping) else "?"
    try:
        meta = value.get("meta", {})
        kwargs: dict[str, Any] = {
            "name": str(value["name"]), "version": str(value["version"]), "arch": str(value["arch"]),
            "repo": str(value.get("repo", "")), "location": str(value["url"]), "size": int(value.get("size", 0)),
            "checksums": tuple(Checksum(str(a), str(h)) for a, h in sorted(value.get("checksums", {}).items())),
        }
        for key, item in meta.items():
            kwargs[key] = _meta_value(key, item)
        return Package(**kwargs)
    except LockError as exc:
        raise LockError(f"package {name} in the lock: {exc.message}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise LockError(f"package {name} in the lock is malformed ({type(exc).__name__}: {exc})") from None


def _meta_value(key: str, item: Any) -> Any:
    if key in _DEPENDENCIES:
        return tuple(_dependency(dep) for dep in item)
    if key in _RELATIONS:
        return tuple(relation_from_json(r) for r in item)
    if key == "fields":
        return tuple((str(k), str(v)) for k, v in item)
    if key == "files":
        return tuple(str(f) for f in item)
    if key not in _DEFAULTS or key in _HEAD or key in _SKIPPED:
        raise LockError(f"unknown field {key!r}")
    default = _DEFAULTS[key]
    for kind in (bool, int, str):  # bool before int: a bool is an int too
        if isinstance(default, kind):
            return kind(item)
    raise LockError(f"cannot read the field {key!r}")


def _dependency(dep: Sequence[Any]) -> Dependency:
    return tuple(relation_from_json(r) for r in dep)
