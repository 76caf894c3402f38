"""One fast pass over an APKINDEX text: what indexing the universe needs of every stanza, with
where each stanza is, so that the rest is read only for the packages a build looks at. Pure:
text in, records out; the caller keeps the text (bootstrap.indexcache) and hands it back.

Contracts:
- `Scanner(where).scan(text)` returns (the text to keep, as UTF-8 bytes; meta), meta being
  plain built-in types (marshal-able; see the comment on meta below). The text kept is the
  index as index.iter_stanzas reads it: the same characters when every line is an `X:` field
  or empty and lines end in `\\n` only (Alpine's indexes), else each stanza rewritten as its
  `X:value` lines (what iter_stanzas keeps of it, and reads back the same).
- What the pass records is exactly what index.package_from_stanza gives for those fields (a
  test holds the two to it on the real Alpine indexes, and on damaged ones): name, version,
  arch (`A:`, when the stanza has one), provides (every `p:` line), install_if (`i:`),
  conflicts (the `!name` tokens of `D:`) and provider_priority (`k:`). Everything
  package_from_stanza would refuse in a stanza is refused here too, with its message, in its
  order (every token of `D:` and `r:`, the sizes): a corrupt index fails when it is read, as
  before, never later when a field is first used.
- `packages(meta, text, repo_url=, arch=, repo_id=)` makes the lazy Packages: the fields
  above at once (`arch` for a stanza without `A:`, checked there: the one refusal that comes
  after the stanza's others, of a word the profile gives, not the index); depends,
  replaces, size, installed_size, location, section and the raw `fields` on first use, from
  the stanza, by package_from_stanza's own code. Nothing that reads the universe as a whole
  (resolve.index.Universe, the apk policy's preferences) asks for a deferred field; a
  resolution reads the stanzas of the names it looks at.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from sys import intern
from typing import Any

from bootstrap.adapters.apk.index import (
    _OP_MAP,
    MAX_VERSION,
    TOKEN_OPERATORS,
    _bounded,
    _int,
    iter_stanzas,
    package_from_stanza,
    parse_depends,
    parse_install_if,
    parse_relations,
)
from bootstrap.adapters.checks import MAX_PACKAGE_SIZE, checked_name, checked_size, checked_word, clip
from bootstrap.errors import RepositoryIndexError
from bootstrap.indexcache import RelationTable, Row, lazy_class, make, relations, row_of
from bootstrap.types import Package, Relation

DEFERRED = frozenset({"depends", "replaces", "size", "installed_size", "location", "section", "fields"})
_LAZY = lazy_class(DEFERRED)

# What iter_stanzas reads otherwise than "stanzas of `X:` lines split by empty lines": another
# line end (str.splitlines splits at each of these), a line that is neither empty nor a
# field (skipped, or a stanza's end when it is blank).
# Such a text is rewritten first (_regular).
_LINE_ENDS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_NOT_A_FIELD = re.compile(r"\n(?!.:|\n|\Z)")
# The fields the pass reads, in a stanza with a newline put before it (a literal first
# character: the regular expression engine then skips to each line start in C).
_WANTED = re.compile(r"\n([PVAkSIDrpi]):([^\n]*)")
# index._DEP_RE, found in a field rather than matched against one token: each match is a whole
# whitespace-separated token.
_TOKEN = re.compile(rf"(?<!\S)(!?)([^<>=~!\s]+)(?:({TOKEN_OPERATORS})(\S+))?(?!\S)")
# A field every token of which index._DEP_RE reads, none with a version past MAX_VERSION
# (atomic groups: linear however long the field). A field it does not vouch for is read by
# index.py's own parser instead, which refuses it with its message (or reads it, if this is
# stricter than that).
_ONE = rf"(?>!?[^<>=~!\s]+(?:(?:{TOKEN_OPERATORS})\S{{1,{MAX_VERSION}}})?)"
_SOUND = re.compile(rf"\s*(?:{_ONE}(?:\s+{_ONE})*)?\s*")

Key = Row  # a relation as indexcache.relations keeps it (row_of)
# meta: "rows", each package's eager fields as a dict (the attributes of its Package, but for
# repo, provides, install_if, conflicts, and arch when the stanza has no A:); "provides",
# "install_if" and "conflicts", row → indexes into "relations" (indexcache.relations rows); "offset" and
# "length" of each stanza in the text (bytes).


class Scanner:
    """The fast pass (module docstring); `where` names the index in messages, as
    package_from_stanza names it (`APKINDEX of <repo id or url>`)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.rows: list[dict[str, object]] = []
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.fields: dict[str, dict[int, tuple[int, ...]]] = {"provides": {}, "install_if": {}, "conflicts": {}}
        self.relations = RelationTable()
        self._archs: dict[str, str] = {}

    def scan(self, text: str) -> tuple[bytes, dict[str, Any]]:
        """(the text to keep, meta) of one whole APKINDEX text."""
        # surrogatepass: any str round-trips (an index decoded with "replace" holds none).
        raw = text.encode("utf-8", "surrogatepass")
        if not _regular_lines(text):
            text = _regular(text)
            raw = text.encode("utf-8", "surrogatepass")
        at = 0
        for chunk in raw.split(b"\n\n"):
            body = chunk.strip(b"\n")  # more than one empty line leaves newlines at the ends
            if body:
                lead = len(chunk) - len(chunk.lstrip(b"\n"))
                self._record(body.decode("utf-8", "surrogatepass"), at + lead, len(body))
            at += len(chunk) + 2
        meta: dict[str, Any] = {"rows": self.rows, "offset": self.offsets, "length": self.lengths,
                                "relations": self.relations.rows(), **self.fields}
        return raw, meta

    def _record(self, stanza: str, offset: int, length: int) -> None:
        """One stanza's row, checked in package_from_stanza's order (a message is made only
        for a refusal: the checks run 5,000 times)."""
        pairs = _WANTED.findall("\n" + stanza)
        one = dict(reversed(pairs))  # the first of each letter, as package_from_stanza reads
        where = self.where
        if "P" not in one or "V" not in one:
            raise RepositoryIndexError(f"{where}: a stanza has no P:/V: field")
        name = checked_name(one["P"], "name", where)
        version = one["V"]
        if not version:
            raise RepositoryIndexError(f"{where}: package {name} has an empty version")
        if len(version) > MAX_VERSION:
            _bounded(version, f"package {name} in {where}")
        checked_word(version, f"version of {name}", where)
        row: dict[str, object] = {"name": name, "version": version}
        if "A" in one:
            row["arch"] = self._arch(one["A"], name)
        at, store = len(self.rows), self._store
        if "D" in one:
            store("conflicts", at, self._conflicts(one["D"]))
        if "p" in one:
            # Every `p:` line counts, as apk-tools appends each one.
            provides = " ".join([value for key, value in pairs if key == "p"])
            store("provides", at, self._tokens(provides, parse_relations, plain=True))
        if "i" in one:
            store("install_if", at, self._tokens(one["i"], parse_install_if, plain=False))
        if "r" in one:
            self._tokens(one["r"], parse_relations, plain=True)  # checked now, read with the stanza
        if "k" in one:
            priority = _int(one["k"])
            if priority:
                row["provider_priority"] = priority
        for letter, what in (("S", "size"), ("I", "installed size")):
            if letter in one and _int(one[letter]) > MAX_PACKAGE_SIZE:
                checked_size(_int(one[letter]), f"{what} of {name}", where)
        self.rows.append(row)
        self.offsets.append(offset)
        self.lengths.append(length)

    def _arch(self, arch: str, name: str) -> str:
        """`arch` checked, interned (a handful of words, each checked once)."""
        known = self._archs.get(arch)
        if known is None:
            known = self._archs[arch] = intern(checked_word(arch, f"architecture of {name}", self.where))
        return known

    def _conflicts(self, depends: str) -> list[Key]:
        """The conflicts of a `D:` field (its `!name` tokens), every token checked."""
        if not _SOUND.fullmatch(depends):
            return [_key(rel, False) for rel in parse_depends(depends)[1]]
        if "!" not in depends:
            return []
        return [_token_key(name, op, ver, False) for neg, name, op, ver in _TOKEN.findall(depends) if neg]

    def _tokens(self, text: str, parse: Callable[[str], tuple[Relation, ...]], *, plain: bool) -> list[Key]:
        """The relations of a `p:`, `i:` or `r:` field: `plain` drops the `!` (parse_relations),
        else it makes a negated relation (parse_install_if)."""
        if not _SOUND.fullmatch(text):
            return [_key(rel, rel.negated) for rel in parse(text)]
        return [_token_key(name, op, ver, not plain and neg == "!") for neg, name, op, ver in _TOKEN.findall(text)]

    def _store(self, field: str, row: int, keys: list[Key]) -> None:
        if keys:
            self.fields[field][row] = tuple(self.relations.add_row(key) for key in keys)


def _regular_lines(text: str) -> bool:
    """Whether `text` has only `\\n` line ends, and only fields and empty lines."""
    if any(end in text for end in _LINE_ENDS):
        return False
    return (text[1:2] == ":" or text[:1] in ("", "\n")) and not _NOT_A_FIELD.search(text)


def _token_key(name: str, op: str, version: str, negated: bool) -> Key:
    """index.parse_relation's Relation, as a Key, from the groups of one token."""
    return row_of(name.split("@", 1)[0] if "@" in name else name, _OP_MAP.get(op, op) or None, version or None,
                  negated=negated)


def _key(rel: Relation, negated: bool) -> Key:
    return row_of(rel.name, rel.op, rel.version, negated=negated)


def _regular(text: str) -> str:
    """`text` as iter_stanzas reads it: each stanza its `X:value` lines, stanzas split by
    one empty line."""
    return "\n\n".join("\n".join(f"{key}:{value}" for key, value in stanza)
                       for stanza in iter_stanzas(text)) + "\n"


class _Stanzas:
    """The deferred fields of one index's packages, read from its text (indexcache.Detail)."""

    def __init__(self, meta: Mapping[str, Any], text: Callable[[int, int], bytes], repo_url: str,
                 arch: str, repo_id: str) -> None:
        self.offsets, self.lengths = meta["offset"], meta["length"]
        self.text, self.repo_url, self.arch, self.repo_id = text, repo_url, arch, repo_id

    def detail(self, ref: int, eager: Mapping[str, object]) -> dict[str, object]:
        raw = self.text(self.offsets[ref], self.lengths[ref])
        stanzas = list(iter_stanzas(raw.decode("utf-8", "surrogatepass")))
        expected = eager["name"]
        full = package_from_stanza(stanzas[0], self.repo_url, self.arch, self.repo_id) if len(stanzas) == 1 else None
        if full is None or full.name != expected:
            got = clip(full.name) if full is not None else f"{len(stanzas)} stanzas"
            raise RepositoryIndexError(f"APKINDEX of {self.repo_id or self.repo_url}: the stanza of {expected} "
                                       f"reads back as {got}", hint="the parsed-index cache is damaged; remove it")
        return {name: getattr(full, name) for name in DEFERRED}


def packages(meta: Mapping[str, Any], text: Callable[[int, int], bytes], *, repo_url: str, arch: str,
             repo_id: str = "") -> list[Package]:
    """The index's packages, lazy (module docstring), as parse_apkindex(text, repo_url, arch,
    repo_id) gives them. Takes `meta`'s row dictionaries as the packages' own attributes: a
    meta is used once (the cache reads a new one each time)."""
    rows = meta["rows"]
    table = relations(meta["relations"])
    for field in ("provides", "install_if", "conflicts"):
        for row, rels in meta[field].items():
            rows[row][field] = tuple(table[i] for i in rels)
    detail, cls = _Stanzas(meta, text, repo_url, arch, repo_id), _LAZY
    default = ""
    out: list[Package] = []
    append = out.append
    for ref, state in enumerate(rows):
        if "arch" not in state:  # no A: the index's own (checked as package_from_stanza does)
            default = default or checked_word(arch, f"architecture of {state['name']}",
                                              f"APKINDEX of {repo_id or repo_url}")
            state["arch"] = default
        state["repo"] = repo_id
        append(make(cls, detail, ref, state))
    return out

