"""Packages whose costly fields are read on first use.

A real index lists 60,000 packages and a resolution looks at a few hundred. What indexing the
universe needs of every package (name, version, arch, provides, conflicts...) is read in one
fast pass; the rest (dependencies, digests, the raw stanza) stays where it was, in the index
text, and is read for a package when something first asks for one of those fields.

Contracts:
- `lazy_class(deferred)` is a subclass of `Package` (one per set of field names, made once)
  whose `deferred` fields are read on first access through `Detail.detail(ref, eager)`; every other
  field is a plain attribute, set at construction or Package's default.
- The source of the deferred fields (`Detail`) holds nothing of the universe, only where
  records are: a chosen package must not keep 60,000 others alive after the resolve.
- `make(cls, detail, ref, eager)` builds one: `eager` (which the package keeps as its
  attributes) holds the fields known now (a field left out has Package's default), `ref` says
  to `detail` where the rest is. The first access to
  any deferred field loads them all at once (one read of the stanza), and from then on they
  are plain attributes: no cost beyond the first.
- A lazy package *is* a Package: equal to, printed as, `replace`d and copied like an eager one
  with the same fields (equality, repr and replace read every field, loading the rest).
  `detail` raises what its family's parser raises for a corrupt record (RepositoryIndexError).
- Loading is idempotent, so two threads that touch one package at once both get the same
  values.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bootstrap.types import Package

# Identity never waits: everything indexes and sorts by these.
_ALWAYS_EAGER = frozenset({"name", "version", "arch"})
_FIELDS = frozenset(f.name for f in dataclasses.fields(Package))


class Detail(Protocol):
    """Where the deferred fields of a family's lazy packages come from."""

    def detail(self, ref: Any, eager: Mapping[str, object]) -> Mapping[str, object]:
        """The deferred fields of the package `ref` points at (every one of them); `eager` is
        what the package already holds (to check the record read back is that package's)."""
        ...


class _Deferred:
    """A non-data descriptor: found only while the instance has no value of its own, it loads
    the package's deferred fields into the instance and steps aside for good."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Package | None, owner: type) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        source: Detail = state["_detail"]
        state.update(source.detail(state["_ref"], state))
        return state[self.name]


@functools.cache
def lazy_class(deferred: frozenset[str]) -> type[Package]:
    """The Package subclass whose `deferred` fields load on first use (made once per set)."""
    unknown = deferred - _FIELDS
    if unknown or deferred & _ALWAYS_EAGER:
        raise ValueError(f"cannot defer {sorted(unknown or deferred & _ALWAYS_EAGER)}")
    namespace: dict[str, object] = {name: _Deferred(name) for name in sorted(deferred)}
    namespace["__doc__"] = f"A Package whose {', '.join(sorted(deferred))} are read on first use."
    namespace["__eq__"] = _same_fields
    namespace["__hash__"] = Package.__hash__
    namespace["__module__"] = __name__
    namespace["__qualname__"] = "LazyPackage"
    return type("LazyPackage", (Package,), namespace)


def _same_fields(self: Package, other: object) -> bool:
    """Equal to any Package, lazy or not, with the same fields (dataclass equality would also
    ask for the same class)."""
    if not isinstance(other, Package):
        return NotImplemented
    return all(getattr(self, name) == getattr(other, name) for name in _ORDERED)


_ORDERED = tuple(f.name for f in dataclasses.fields(Package))


def make(cls: type[Package], detail: Detail, ref: object, eager: dict[str, object]) -> Package:
    """One lazy package of `cls` (from lazy_class): `eager` now, the rest from `detail`. The
    package takes `eager` as its own attribute dictionary (the quickest way to make 60,000)."""
    eager["_detail"] = detail
    eager["_ref"] = ref
    pkg = object.__new__(cls)
    object.__setattr__(pkg, "__dict__", eager)
    return pkg


def loaded(pkg: Package) -> bool:
    """Whether `pkg` holds every field now (an eager package, or a lazy one already read)."""
    return "_detail" not in pkg.__dict__ or all(
        name in pkg.__dict__ for name in _deferred_names(type(pkg)))


def _deferred_names(cls: type) -> Iterable[str]:
    return (name for name, value in vars(cls).items() if isinstance(value, _Deferred))
