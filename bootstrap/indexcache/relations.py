"""Relations as plain tuples, for a cache entry's meta (marshal holds only built-in types), and
back. One table per index: a relation that 10,000 packages share is stored, and made again,
once.

Contract: `RelationTable.add(rel)` gives the relation's number in the table (the same number
for an equal relation), `add_row(row_of(...))` the same without making the Relation; `rows()`
is the table as tuples; `relations(rows)` makes the Relation
objects again, equal to the ones added (negated and narrowing relations included).
"""
from __future__ import annotations

from collections.abc import Sequence

from bootstrap.types import Relation

Row = tuple[object, ...]  # (name, op, version, arch[, negated, narrow rows])


class RelationTable:
    """The relations of one index, numbered in the order first added."""

    def __init__(self) -> None:
        self._index: dict[Row, int] = {}

    def add(self, rel: Relation) -> int:
        return self.add_row(_row(rel))

    def add_row(self, row: Row) -> int:
        """A relation given as its row: (name, op, version, arch), the form `rows()` gives."""
        found = self._index.get(row)
        if found is None:
            found = self._index[row] = len(self._index)
        return found

    def add_all(self, rels: Sequence[Relation]) -> tuple[int, ...]:
        return tuple(self.add(rel) for rel in rels)

    def rows(self) -> list[Row]:
        return list(self._index)


def row_of(name: str, op: str | None = None, version: str | None = None, arch: str | None = None,
           negated: bool = False) -> Row:
    """The row of the Relation these would make (for a pass that reads relations without
    making them)."""
    return (name, op, version, arch, True, ()) if negated else (name, op, version, arch)


def _row(rel: Relation) -> Row:
    if rel.negated or rel.narrow:
        return (rel.name, rel.op, rel.version, rel.arch, rel.negated, tuple(_row(sub) for sub in rel.narrow))
    return (rel.name, rel.op, rel.version, rel.arch)


def relations(rows: Sequence[Row]) -> list[Relation]:
    """The table's Relation objects, in order. Plain ones are made without __init__: each was a
    Relation (so checked) when it was added."""
    new = object.__new__
    out: list[Relation] = []
    for row in rows:
        if len(row) == 4:
            rel = new(Relation)
            rel.__dict__.update(name=row[0], op=row[1], version=row[2], arch=row[3])
        else:
            rel = _relation(row)
        out.append(rel)
    return out


def _relation(row: Row) -> Relation:
    name, op, version, arch, *rest = row
    negated, narrow = (rest[0], rest[1]) if rest else (False, ())
    assert isinstance(narrow, tuple)
    return Relation(str(name), _text(op), _text(version), _text(arch), bool(negated),
                    tuple(_relation(sub) for sub in narrow))


def _text(value: object) -> str | None:
    return None if value is None else str(value)
