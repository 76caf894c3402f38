"""One fast pass over primary.xml: what indexing the universe needs of every package, with where
each `<package>` element is, so that the rest is read only for the packages a build looks at.
Pure: bytes in, records out; the caller keeps the text (bootstrap.indexcache).

Contracts:
- `Scanner.feed(piece)` takes the inflated document in order and returns the text to keep
  (all of it: offsets count from its start); `finish()` returns (last text, meta), or raises
  `Irregular` when the document is not laid out as createrepo (c or python) writes it: UTF-8,
  the common namespace as the default and `rpm:` bound to rpm's, no DTD. The caller then reads
  it with primary.parse_primary, eagerly. Well-formedness is judged by expat as the pieces
  come in (the same parser primary.py uses), so broken XML fails here as it fails there.
- Per package the pass records what primary.parse_primary gives for name, arch, version,
  provides, conflicts (the plain ones, rich ones' atoms included), obsoletes, files and
  checksums (the pkgid, which filelists are matched by); a package whose element holds
  anything the regular expressions do not read exactly as XML does (CDATA, comments,
  single quotes, its own prefixes) is read with ElementTree instead. Source packages are
  left out, as there.
- `packages(meta, text, repo_url, repo_id)` makes the lazy Packages: those fields at once,
  the rest (requires, weak relations, rich conflicts, location, sizes, fields) on first use,
  by primary.py's own code.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Callable, Mapping
from typing import Any

from bootstrap.adapters.checks import checked_name, checked_size, checked_word
from bootstrap.adapters.yum.primary import (
    _SOURCE_ARCHES,
    COMMON,
    FLAGS,
    _conflicts,
    _negative,
    _package,
    relation,
)
from bootstrap.adapters.yum.repomd import checksum_algo, number
from bootstrap.adapters.yum.version import format_evr
from bootstrap.errors import RepositoryIndexError
from bootstrap.indexcache import RelationTable, lazy_class, make, relations
from bootstrap.types import Checksum, Package, Relation

DEFERRED = frozenset({"depends", "pre_depends", "conflict_clauses", "recommends", "suggests", "supplements",
                      "enhances", "location", "size", "installed_size", "fields"})
_LAZY = lazy_class(DEFERRED)

_COMMON_NS = "http://linux.duke.edu/metadata/common"
_RPM_NS = "http://linux.duke.edu/metadata/rpm"
_START_BYTES = re.compile(rb"<package\b([^>]*)>")
_START = re.compile(r"<package\b([^>]*)>")
_END = re.compile(r"</package\s*>")
_END_BYTES = re.compile(rb"</package\s*>")
_COMMON_DECL = b'xmlns="http://linux.duke.edu/metadata/common"'
_TEXT = {tag: re.compile(rf"<{tag}>([^<]*)</{tag}>") for tag in ("name", "arch")}
# A tag's attributes: a ">" inside a quoted value does not end it.
_IN_TAG = r"""(?:[^>"']|"[^"]*"|'[^']*')*?"""
_EMPTY = {tag: re.compile(rf"<{tag}\b({_IN_TAG})/?>") for tag in ("version", "size")}
_CHECKSUM = re.compile(rf"<checksum\b({_IN_TAG})>([^<]*)</checksum>")
_BLOCK = {tag: re.compile(rf"<rpm:{tag}\s*>(.*?)</rpm:{tag}\s*>", re.DOTALL)
          for tag in ("provides", "conflicts", "obsoletes")}
_ENTRY = re.compile(rf"<rpm:entry\b({_IN_TAG})/?>")
_FILE = re.compile(r"<file\b[^>]*>([^<]*)</file>")
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class Irregular(Exception):
    """The document is not in createrepo's layout: read it with the full parser."""


class Scanner:
    """The fast pass (module docstring); `where` names the metadata in messages."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.rows: list[dict[str, object]] = []
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.table = RelationTable()
        self.root = ""  # the <metadata ...> start tag: the deferred reader wraps a package in it
        self._expat = expat.ParserCreate()
        self._expat.EntityDeclHandler = self._entity  # as safexml.guarded: no entities at all
        # Markup createrepo never writes, where the expressions would misread where a package
        # ends or what a value is: comments, CDATA, processing instructions (and CR, which XML
        # reads as LF). expat tells; any of them sends the document to the full parser.
        self._odd = False
        self._expat.CommentHandler = self._expat.StartCdataSectionHandler = self._strange
        self._expat.ProcessingInstructionHandler = self._strange
        self._carry = b""
        self._at = 0

    def _strange(self, *_: object) -> None:
        self._odd = True

    def _entity(self, *_: object) -> None:
        raise RepositoryIndexError(f"{self.where} declares XML entities; refusing",
                                   hint="repository metadata never needs them: the file is hostile")

    def feed(self, piece: bytes) -> bytes:
        self._judge(piece, False)
        self._odd = self._odd or b"\r" in piece
        data = self._carry + piece
        if not self.root:
            start = data.find(b"<package")
            if start < 0:
                self._carry = data
                return piece
            self._prolog(data[:start].decode("utf-8", "replace"))
            self._at += start
            data = data[start:]
        cut = data.rfind(b"</package>")
        if cut < 0:
            self._carry = data
            return piece
        cut += len(b"</package>")
        self._scan(data[:cut])
        self._carry = data[cut:]
        return piece

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        self._judge(b"", True)
        if not self.root:  # no package at all: the prolog is all there is
            self._prolog(self._carry.decode("utf-8", "replace"))
        meta = {"root": self.root, "rows": self.rows, "offset": self.offsets, "length": self.lengths,
                "relations": self.table.rows()}
        return b"", meta

    def _judge(self, piece: bytes, final: bool) -> None:
        try:
            self._expat.Parse(piece, final)
        except expat.ExpatError as exc:
            raise RepositoryIndexError(f"{self.where} is corrupt: {exc}") from None

    def _prolog(self, text: str) -> None:
        """Accept only createrepo's prolog: UTF-8, no DTD, the usual namespaces."""
        head = re.search(r"<metadata\b[^>]*>", text)
        declared = re.match(r"\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']*)", text)
        if head is None or "<!" in text or (declared and declared[1].lower().replace("-", "") != "utf8"):
            raise Irregular
        attrs = _attrs(head[0])
        if attrs.get("xmlns") != _COMMON_NS or attrs.get("xmlns:rpm") != _RPM_NS:
            raise Irregular
        if any(value in (_COMMON_NS, _RPM_NS) for key, value in attrs.items() if key not in ("xmlns", "xmlns:rpm")):
            raise Irregular  # another prefix for them: elements the expressions would not see
        self.root = head[0]

    def _scan(self, region: bytes) -> None:
        if self._odd:
            raise Irregular  # markup the expressions would misread: the full parser reads it all
        base = self._at
        self._at += len(region)
        regular = _regular(region)
        if region.isascii():  # nearly always: offsets in characters are offsets in bytes
            text = region.decode("ascii")
            for match in _START.finditer(text):
                end = self._end(_END.search(text, match.end()))
                self._package(text[match.start():end], match[1], base + match.start(), end - match.start(), regular)
            return
        for found in _START_BYTES.finditer(region):
            end = self._end(_END_BYTES.search(region, found.end()))
            element = region[found.start():end].decode("utf-8")
            self._package(element, found[1].decode("utf-8"), base + found.start(), end - found.start(), regular)

    def _end(self, close: re.Match[str] | re.Match[bytes] | None) -> int:
        if close is None:
            raise RepositoryIndexError(f"{self.where} is corrupt: an unclosed <package>")
        return close.end()

    def _package(self, element: str, start_attrs: str, offset: int, length: int, regular: bool) -> None:
        fields = _fast(element, start_attrs) if regular or _regular(element.encode()) else _UNREAD
        if fields is _UNREAD:
            fields = _slow(self.root + element + "</metadata>")
        if not isinstance(fields, tuple):
            return  # a source package, or another type
        name, arch, version, sizes, provides, conflicts, obsoletes, files, checksums = fields
        where = self.where
        checked_name(name, "name", where)
        checked_word(arch, f"architecture of {name}", where)
        checked_word(version, f"version of {name}", where)
        checked_size(number(sizes.get("package")), f"size of {name}", where)
        checked_size(number(sizes.get("installed")), f"installed size of {name}", where)
        row: dict[str, object] = {"name": name, "version": version, "arch": arch}
        table = self.table
        for field, rels in (("provides", provides), ("conflicts", conflicts), ("obsoletes", obsoletes)):
            if rels:
                row[field] = tuple(table.add_row(r) if isinstance(r, tuple) else table.add(r) for r in rels)
        if files:
            row["files"] = files
        if checksums:
            row["checksums"] = checksums
        self.rows.append(row)
        self.offsets.append(offset)
        self.lengths.append(length)


# name, arch, version, size attributes, provides, conflicts, obsoletes (Relations, or rows of
# plain ones), files, checksum rows
Rels = tuple[Relation, ...] | tuple[tuple[str, str | None, str | None, None], ...]
Fields = tuple[str, str, str, dict[str, str], Rels, Rels, Rels, tuple[str, ...], tuple[tuple[str, str], ...]]


def _regular(text: bytes) -> bool:
    """Whether the regular expressions read the elements in `text` as XML does: no namespace
    declared but the common one, no entry without attributes (asked of a whole region at once;
    of one element only when its region fails)."""
    return not (b"xmlns:" in text or b"<rpm:entry>" in text or text.count(b"xmlns=") != text.count(_COMMON_DECL))


_UNREAD = object()  # _fast could not read an element: ElementTree reads it
# What createrepo writes first in every <package>, in this order (else the general way).
_HEAD = re.compile(r'\s*<name>([^<]*)</name>\s*<arch>([^<]*)</arch>\s*<version epoch="([^"\t\n]*)" '
                   r'ver="([^"\t\n]*)" rel="([^"\t\n]*)"/>\s*'
                   r'(?:<checksum type="([^"\t\n]*)" pkgid="[^"]*">([^<]*)</checksum>)?')
_SIZE = re.compile(r'<size package="([^"]*)" installed="([^"]*)"')
# An entry with createrepo's attributes in createrepo's order; anything else the general way.
_PLAIN_ENTRY = re.compile(r'<rpm:entry name="([^"(&\t\n][^"&\t\n]*)"(?: flags="([A-Z]{2})")?'
                          r'(?: epoch="([^"&\t\n]*)")?(?: ver="([^"&\t\n]*)")?(?: rel="([^"&\t\n]*)")?'
                          r'(?: pre="[^"]*")?/>')
Row = tuple[str, str | None, str | None, None]


def _fast(element: str, start_attrs: str) -> Fields | object | None:
    """The eager fields by regular expressions; None for a package left out (source, or
    another type); _UNREAD when one is not where createrepo puts it."""
    if _attrs(start_attrs).get("type", "rpm") != "rpm":
        return None
    head = _HEAD.match(element, element.index(">") + 1)
    if head is None or "&" in head[0]:
        return _general(element)
    name, arch, epoch, ver, rel, algo, digest = head.groups()
    if arch in _SOURCE_ARCHES:
        return None
    if (digest is None and "<checksum" in element) or any(element.count(f"<rpm:{tag}") > 1 for tag in _BLOCK):
        return _UNREAD  # a checksum written otherwise, a block twice: ElementTree reads it
    size = _SIZE.search(element)
    if size is None and "<size" in element:
        return _general(element)
    sizes = {"package": size[1], "installed": size[2]} if size is not None else {}
    checksums = ((checksum_algo(algo), digest.strip().lower()),) if digest else ()
    provides = _rows(element, "provides")
    conflicts = _rows(element, "conflicts")
    obsoletes = _rows(element, "obsoletes")
    if provides is None or conflicts is None or obsoletes is None:
        return _general(element)
    files = tuple(_unescape(f) for f in _FILE.findall(element))
    if len(files) != element.count("<file"):
        return _UNREAD  # an empty <file/>, or one the expression did not take
    return name, arch, format_evr(epoch, ver, rel), sizes, provides, conflicts, obsoletes, files, checksums


def _rows(element: str, tag: str) -> tuple[Row, ...] | None:
    """The entries of one block as relation rows when every one is a plain entry written as
    createrepo writes it (None otherwise: rich ones, other attributes, entities)."""
    start = element.find(f"<rpm:{tag}>")
    if start < 0:
        return None if f"<rpm:{tag}" in element else ()  # written another way: the general reader
    end = element.find(f"</rpm:{tag}>", start)
    if end < 0:
        return None
    block = element[start:end]
    found = _PLAIN_ENTRY.findall(block)
    if len(found) != block.count("<rpm:entry"):
        return None
    return tuple(_row(*entry) for entry in found)


def _row(name: str, flags: str, epoch: str, ver: str, rel: str) -> Row:
    """primary.relation() as a row: the same name, operator and version."""
    op = FLAGS.get(flags)
    if op is None or not ver:
        return (name, None, None, None)
    return (name, op, format_evr(epoch or None, ver, rel or None), None)


def _general(element: str) -> Fields | object | None:
    """The eager fields read attribute by attribute (any order, entities, rich relations)."""
    name, arch = _TEXT["name"].search(element), _TEXT["arch"].search(element)
    version = _EMPTY["version"].search(element)
    if name is None or arch is None or version is None:
        return _UNREAD
    if _unescape(arch[1]) in _SOURCE_ARCHES:
        return None
    v = _attrs(version[1])
    size = _EMPTY["size"].search(element)
    ck = _CHECKSUM.search(element)
    checksums: tuple[tuple[str, str], ...] = ()
    if ck is not None and ck[2]:
        checksums = ((checksum_algo(_attrs(ck[1]).get("type", "sha256")), _unescape(ck[2]).strip().lower()),)
    provides = tuple(r for r, _ in _entries(element, "provides") if isinstance(r, Relation))
    conflicts, _ = _conflicts(_entries(element, "conflicts"))
    obsoletes = _negative([r for r, _ in _entries(element, "obsoletes")])
    files = tuple(_unescape(f) for f in _FILE.findall(element))
    return (_unescape(name[1]), _unescape(arch[1]), format_evr(v.get("epoch"), v.get("ver", ""), v.get("rel")),
            _attrs(size[1]) if size is not None else {}, provides, conflicts, obsoletes, files, checksums)


def _entries(element: str, tag: str) -> list[tuple[Relation | str, bool]]:
    block = _BLOCK[tag].search(element)
    if block is None:
        return []
    found: list[tuple[Relation | str, bool]] = []
    for attrs in _ENTRY.findall(block[1]):
        a = _attrs(attrs)
        name, pre = a.get("name", ""), a.get("pre") in ("1", "true")
        found.append((name, pre) if name.startswith("(") else
                     (relation(name, a.get("flags"), a.get("epoch"), a.get("ver"), a.get("rel")), pre))
    return found


def _attrs(text: str) -> dict[str, str]:
    """A tag's attributes as XML reads them: entities replaced, a tab or line end a space."""
    return {k: _unescape(v.translate(_BLANKS) if "\t" in v or "\n" in v else v)
            for k, double, single in _ATTR.findall(text) for v in (double or single,)}


_BLANKS = str.maketrans("\t\n", "  ")


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity, text)


def _entity(match: re.Match[str]) -> str:
    ref = match[1]
    if ref.startswith("#x"):
        return chr(int(ref[2:], 16))
    if ref.startswith("#"):
        return chr(int(ref[1:]))
    return _NAMED[ref]


def _slow(document: str) -> Fields | None:
    """The eager fields of one package element, read by ElementTree through primary.py."""
    try:
        el = ET.fromstring(document).find(f"{COMMON}package")
    except ET.ParseError as exc:
        raise RepositoryIndexError(f"primary metadata is corrupt: {exc}") from None
    pkg = _package(el, "", "") if el is not None else None
    if pkg is None:
        return None
    sizes = {"package": str(pkg.size), "installed": str(pkg.installed_size)}
    return (pkg.name, pkg.arch, pkg.version, sizes, pkg.provides, pkg.conflicts, pkg.obsoletes, pkg.files,
            tuple((c.algo, c.hexdigest) for c in pkg.checksums))


_DAMAGED = "the parsed-index cache is damaged; remove its parsed/ directory"


class _Elements:
    """The deferred fields of one metadata's packages, read from its text (indexcache.Detail)."""

    def __init__(self, meta: Mapping[str, Any], text: Callable[[int, int], bytes], repo_url: str,
                 repo_id: str) -> None:
        self.root, self.offsets, self.lengths = meta["root"], meta["offset"], meta["length"]
        self.text, self.repo_url, self.repo_id = text, repo_url, repo_id

    def detail(self, ref: int, eager: Mapping[str, object]) -> dict[str, object]:
        element = self.text(self.offsets[ref], self.lengths[ref]).decode("utf-8")
        try:
            el = ET.fromstring(self.root + element + "</metadata>").find(f"{COMMON}package")
        except ET.ParseError as exc:
            raise RepositoryIndexError(f"primary metadata of {self.repo_id}: the element of {eager['name']} "
                                       f"no longer reads ({exc})", hint=_DAMAGED) from None
        full = _package(el, self.repo_url, self.repo_id) if el is not None else None
        if full is None or full.name != eager["name"]:
            raise RepositoryIndexError(f"primary metadata of {self.repo_id}: the element of {eager['name']} "
                                       "reads back as another package", hint=_DAMAGED)
        return {name: getattr(full, name) for name in DEFERRED}


def packages(meta: Mapping[str, Any], text: Callable[[int, int], bytes], repo_url: str,
             repo_id: str) -> list[Package]:
    """The metadata's binary packages, lazy (module docstring). Takes `meta`'s rows as the
    packages' own attributes (a meta is used once)."""
    table = relations(meta["relations"])
    detail = _Elements(meta, text, repo_url, repo_id)
    out: list[Package] = []
    for ref, state in enumerate(meta["rows"]):
        for field in ("provides", "conflicts", "obsoletes"):
            ids = state.get(field)
            if ids:
                state[field] = tuple(table[i] for i in ids)
        if "files" in state:
            state["files"] = tuple(state["files"])
        if "checksums" in state:
            state["checksums"] = tuple(Checksum(algo, digest) for algo, digest in state["checksums"])
        state["repo"] = repo_id
        out.append(make(_LAZY, detail, ref, state))
    return out
