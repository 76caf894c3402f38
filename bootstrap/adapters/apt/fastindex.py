"""One fast pass over a Packages index: what indexing the universe needs of every stanza, with
where each stanza is, so that the rest is read only for the packages a build looks at. Pure:
bytes in, records out; the caller keeps the text (bootstrap.indexcache) and hands it back.

Contracts:
- `Scanner` is fed the decompressed index piece by piece (`feed`), in order, and `finish()`
  returns the `meta` of the index: plain built-in types (marshal-able), see the comment on meta below. Its
  `text` pieces (from `feed`) are the index as the lazy reader will read it back: the same
  bytes, except that CRLF line ends become LF and lines of only blanks become empty (both
  mean the same to deb822.py's reader, which reads them the same way).
- What the pass records is exactly what packages.parse_packages gives for those fields (a
  test holds the two to it on the real bookworm index): name, version, arch (checked as it
  checks them), provides and conflicts (Conflicts + Breaks), essential, priority, multi_arch,
  sizes; and the names the index mentions in apt's order (packages.mentioned_names), new
  ones only, from which `index_order` is numbered.
- `packages(meta, text, base_url, repo_id, order)` makes the lazy Packages: the fields above
  at once; depends, pre_depends, recommends, replaces, location, checksums, section and the
  raw `fields` on first use, from the stanza, by packages.parse_packages's own code.
"""
from __future__ import annotations

import marshal
import re
from array import array
from collections.abc import Callable, Mapping
from sys import intern
from typing import Any

from bootstrap.adapters.apt import deb822
from bootstrap.adapters.apt.packages import (
    _MENTIONING,
    _bad_index_line,
    _int,
    _package,
    parse_flat_relations,
    provider_priority,
)
from bootstrap.adapters.checks import checked_name, checked_size, checked_word, clip
from bootstrap.errors import RepositoryIndexError
from bootstrap.indexcache import RelationTable, lazy_class, make, relations
from bootstrap.types import Package, Relation

DEFERRED = frozenset({"depends", "pre_depends", "recommends", "replaces", "location", "checksums",
                      "section", "fields", "size", "installed_size"})
_LAZY = lazy_class(DEFERRED)

# Canonical spellings; _MENTIONING's, in apt's reading order, too.
_MENTIONING_FIELDS = tuple("-".join(part.capitalize() for part in key.split("-")) for key in _MENTIONING)
_WANTED = ("Package", "Version", "Architecture", "Provides", "Conflicts", "Breaks", "Essential",
           "Priority", "Multi-Arch", "Size", "Installed-Size", *_MENTIONING_FIELDS)
_FIELD = re.compile(r"^(" + "|".join(re.escape(w) for w in dict.fromkeys(_WANTED)) +
                    r")[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)
_CANONICAL = {w.lower(): w for w in _WANTED}
# What the fast pass leaves to the full reader: a wanted field in another case (deb822 field
# names ignore case), or a line that is no field, continuation or comment (an error there).
_NONCANONICAL = re.compile(rb"\n(?:(?!(?:" + b"|".join(w.encode() for w in _WANTED) + rb")[ \t]*:)(?i:"
                           + b"|".join(re.escape(w).encode() for w in _WANTED) + rb")[ \t]*:"
                           + rb"|[^ \t#\n:][^:\n]*+(?:\n|$))")
# A stanza's own name (between \x02 and \x03), or a relation target as packages._targets
# reads one: `name`, `name:any` (another arch qualifier, an arch list, a version: ignored).
_TARGET = re.compile(r"\x02([^\x03]*)\x03|[,|\x00]\s*([^\s,|(:\x00\x02]+(?::any(?![^\s,|(\x00\x02]))?)")
_BLANKS = re.compile(rb"^[ \t]+(?=\n)", re.MULTILINE)  # whole lines only: a piece may end mid-line
# meta: "rows", each package's eager fields as a dict (the attributes of its Package, but for
# index_order, repo, provides and conflicts); "provides" and "conflicts", row → indexes into
# "relations" (name, op, version, arch); "offset" and "length" of each stanza in the text;
# "mentioned", the names in apt's numbering order (new ones only).


class Scanner:
    """The fast pass (module docstring); `where` names the index in messages."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.rows: list[dict[str, object]] = []
        self.provides: dict[int, tuple[int, ...]] = {}
        self.conflicts: dict[int, tuple[int, ...]] = {}
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.relations = RelationTable()
        # Every name mentioned so far → its number (first mention first; a dict keeps order).
        self.mentioned: dict[str, int] = {}
        self._archs: dict[str, str] = {}
        self._carry = b""
        self._at = 0  # offset of _carry in the text

    def feed(self, chunk: bytes) -> bytes:
        """Take the next piece; returns the text to keep (what the offsets count)."""
        data = self._carry + chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if b" \n" in data or b"\t\n" in data:
            data = _BLANKS.sub(b"", data)
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self._carry = data
            return b""
        whole, self._carry = data[:cut + 2], data[cut + 2:]
        self._scan(whole)
        return whole

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        """(the last text to keep, meta). The mentioned names go after the index text, read
        only when a second index of the repository needs them."""
        rest, self._carry = self._carry, b""
        self._scan(rest)
        number = self.mentioned
        for row in self.rows:
            row["index_order"] = number[str(row["name"])]
        names = marshal.dumps(list(number))
        meta = {"rows": self.rows, "provides": self.provides, "conflicts": self.conflicts,
                "offset": array("Q", self.offsets).tobytes(), "length": array("Q", self.lengths).tobytes(),
                "relations": self.relations.rows(), "mentioned": (self._at + len(rest), len(names))}
        return rest + names, meta

    def _scan(self, region: bytes) -> None:
        at = self._at
        self._at += len(region)
        relations: list[str] = []  # per stanza: "\x02name\x03" + its relation fields, apt's order
        # Rare (_NONCANONICAL): the whole region is searched once, and only then each stanza.
        odd = _NONCANONICAL.search(b"\n" + region) is not None
        for chunk in region.split(b"\n\n"):
            start, at = at, at + len(chunk) + 2
            if chunk.strip():
                f = self._fields(chunk, odd and _NONCANONICAL.search(b"\n" + chunk) is not None)
                if f is not None:
                    name = self._record(f, start, len(chunk))
                    relations.append(f"\x02{name}\x03\x00" + "\x00".join([f[k] for k in _MENTIONING_FIELDS if k in f]))
        self._mention("".join(relations))

    def _fields(self, chunk: bytes, odd: bool) -> dict[str, str] | None:
        """The wanted fields of one stanza by their canonical names (`Package`); None for a
        paragraph of comments only. `odd`: it has what only the full reader reads right."""
        text = deb822._decode(chunk)
        f = dict(_FIELD.findall(text))
        if not odd and "Package" in f and "Version" in f and "\n#" not in text and text[0] != "#":
            joined = "\x00".join(f.values()) + "\x00"  # one test for all values, at C speed
            if "\n" in joined or " \x00" in joined or "\t\x00" in joined:
                f = {key: _value(value) for key, value in f.items()}
            return f
        # Field names in another case (deb822 ignores case), or a comment line that may sit
        # between a field and its continuation: the full reader.
        pairs = deb822.parse_paragraph(text, _bad_index_line)
        if not pairs:
            return None
        return {_CANONICAL.get(k.lower(), k): v for k, v in pairs}

    def _record(self, f: dict[str, str], offset: int, length: int) -> str:
        name, version = f.get("Package", ""), f.get("Version", "")
        if not name or not version:
            raise RepositoryIndexError(f"{self.where} has a stanza without Package/Version "
                                       f"(after {clip(name) if name else '?'})", hint="the index is corrupt")
        where = self.where
        checked_name(name, "name", where)
        checked_word(version, f"version of {name}", where)
        arch = f.get("Architecture", "")
        if arch not in self._archs:  # a handful of words: each checked once
            self._archs[arch] = intern(checked_word(arch, f"architecture of {name}", where))
        # Checked now, read again with the stanza: a hostile size fails the index, as before.
        # (Only a long number can be past the ceiling: 10 digits of bytes, 7 of KiB are not.)
        if len(f.get("Size", "")) > 10:
            checked_size(_int(f.get("Size")), f"Size of {name}", where)
        if len(f.get("Installed-Size", "")) > 7:
            checked_size(_int(f.get("Installed-Size")) << 10, f"Installed-Size of {name}", where)
        # Interned: the few words repeated 60,000 times are then stored (and read back) once.
        priority = intern(f.get("Priority", ""))
        # Every key the package will have, so that marshal makes each dict at its final size.
        row: dict[str, object] = {
            "name": name, "version": version,
            "arch": self._archs[arch],
            "priority": priority, "provider_priority": provider_priority(priority),
            "index_order": 0, "repo": "", "_detail": None, "_ref": 0}
        if "Essential" in f and f["Essential"].lower() == "yes":
            row["essential"] = True
        if "Multi-Arch" in f:
            row["multi_arch"] = intern(f["Multi-Arch"].lower())
        at = len(self.rows)
        if "Provides" in f:
            self.provides[at] = self._rels(parse_flat_relations(f["Provides"]))
        if "Conflicts" in f or "Breaks" in f:
            conflicts = parse_flat_relations(f.get("Conflicts", "")) + parse_flat_relations(f.get("Breaks", ""))
            if conflicts:
                self.conflicts[at] = self._rels(conflicts)
        self.rows.append(row)
        self.offsets.append(offset)
        self.lengths.append(length)
        return name

    def _mention(self, relations: str) -> None:
        """The names the region's stanzas make apt's cache know (packages.mentioned_names),
        new ones kept in order: one regular expression over all their names and relation
        fields, and the first appearance of each found by dict.fromkeys (in C)."""
        mentioned = self.mentioned
        targets = [own or other for own, other in _TARGET.findall(relations)]
        for name in dict.fromkeys(targets):
            if name not in mentioned:
                mentioned[name] = len(mentioned) + 1

    def _rels(self, rels: tuple[Relation, ...]) -> tuple[int, ...]:
        return self.relations.add_all(rels)


def _value(raw: str) -> str:
    """A field's value as deb822.parse_paragraph gives it: the first line stripped, each
    continuation line with its trailing blanks removed."""
    if "\n" not in raw:
        return raw.strip()
    first, *rest = raw.split("\n")
    return "\n".join([first.strip(), *(line.rstrip() for line in rest)])


class _Stanzas:
    """The deferred fields of one index's packages, read from its text (indexcache.Detail)."""

    def __init__(self, meta: Mapping[str, Any], text: Callable[[int, int], bytes], base: str, repo_id: str) -> None:
        self.offsets, self.lengths = array("Q", meta["offset"]), array("Q", meta["length"])
        self.text, self.base, self.repo_id = text, base, repo_id

    def detail(self, ref: int, eager: Mapping[str, object]) -> dict[str, object]:
        raw = self.text(self.offsets[ref], self.lengths[ref])
        stanza = deb822.parse_paragraph(deb822._decode(raw), _bad_index_line)
        full = _package(stanza, self.base, self.repo_id, {})
        expected = eager["name"]
        if full.name != expected:
            raise RepositoryIndexError(f"index of {self.repo_id}: the stanza of {expected} reads back as "
                                       f"{clip(full.name)}", hint="the parsed-index cache is damaged; remove it")
        return {name: getattr(full, name) for name in DEFERRED}


class Numbering:
    """apt's numbering of names across the indexes of one repository (packages.parse_packages's
    `order`): a name keeps the number of the index that first mentions it. The first index's
    rows carry their numbers already; its names are read only when a second index comes."""

    def __init__(self) -> None:
        self._order: dict[str, int] = {}
        self._earlier: list[Callable[[], list[str]]] = []
        self._done = 0  # how many of _earlier are in _order

    def first(self, names: Callable[[], list[str]]) -> bool:
        """Whether the index whose names `names` reads is the first; either way it counts."""
        self._earlier.append(names)
        return len(self._earlier) == 1

    def order(self) -> dict[str, int]:
        """The numbers of every name of the indexes so far."""
        while len(self._earlier) > self._done:
            for name in self._earlier[self._done]():
                self._order.setdefault(name, len(self._order) + 1)
            self._done += 1
        return self._order


def packages(meta: Mapping[str, Any], text: Callable[[int, int], bytes], *, base_url: str, repo_id: str,
             numbering: Numbering) -> list[Package]:
    """The index's packages, lazy (module docstring), numbered by `numbering` across the
    indexes of the repository. Takes `meta`'s row dictionaries as the packages' own
    attributes: a meta is used once (the cache reads a new one each time)."""
    at, length = meta["mentioned"]
    rows = meta["rows"]
    if not numbering.first(lambda: marshal.loads(text(at, length))):
        order = numbering.order()
        for state in rows:
            state["index_order"] = order[state["name"]]
    base = base_url if base_url.endswith("/") else base_url + "/"
    table = relations(meta["relations"])
    for field in ("provides", "conflicts"):
        for row, rels in meta[field].items():
            rows[row][field] = tuple(table[i] for i in rels)
    detail, cls = _Stanzas(meta, text, base, repo_id), _LAZY
    out: list[Package] = []
    append = out.append
    for ref, state in enumerate(rows):
        state["repo"] = repo_id
        append(make(cls, detail, ref, state))
    return out

