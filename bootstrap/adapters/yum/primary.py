"""primary.xml / primary.sqlite and filelists.xml into Package records. Pure (streams in).

Each `<package type="rpm">` becomes a Package: version `[epoch:]ver-rel`; depends from
`<rpm:requires>` (flags EQ/LT/LE/GT/GE → `=`, `<`, `<=`, `>=`, `>`; entries with pre="1"
repeated in pre_depends); provides, conflicts, obsoletes; the weak `<rpm:recommends>`,
`suggests`, `supplements` and `enhances` (never installed for, libsolv chooses by them);
`files` = the paths primary lists (createrepo keeps only /etc, *bin/ and
/usr/lib/sendmail there: the rest is in filelists, read only on demand, see
`parse_filelists`); location = base (the `xml:base` of the entry, else the repository URL) +
href; checksums = the pkgid digest. `fields` keeps summary, sourcerpm, license, vendor, packager,
buildtime and the header range for the package database and for `rootfs-bootstrap resolve` output.

`rpmlib(...)` requirements are skipped: they name features of rpm itself (rpmlib(PayloadIsXz)),
which rpm provides internally and no package lists. Rich dependencies go through richdep (a
rich Conflicts becomes clauses of its negation, added to depends).
Source packages (arch src/nosrc) are left out.

Malformed input (broken XML, corrupt compression, an unreadable or oddly typed sqlite
database) raises RepositoryIndexError; an unparseable rich dependency is dropped, as rpm
would refuse such a package long before us.
"""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator, Mapping
from typing import IO

from bootstrap.adapters.checks import checked_name, checked_size, checked_word
from bootstrap.adapters.yum.repomd import XML_BASE, checksum_algo, join_url, number
from bootstrap.adapters.yum.richdep import RichDepError, conflict, conflict_atoms, requirement
from bootstrap.adapters.yum.safexml import guarded
from bootstrap.adapters.yum.version import format_evr
from bootstrap.errors import RepositoryIndexError
from bootstrap.types import Checksum, Dependency, Package, Relation

COMMON = "{http://linux.duke.edu/metadata/common}"
RPM = "{http://linux.duke.edu/metadata/rpm}"
FILELISTS = "{http://linux.duke.edu/metadata/filelists}"
FLAGS = {"EQ": "=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}
_SOURCE_ARCHES = {"src", "nosrc"}


def relation(name: str, flags: str | None, epoch: str | None, ver: str | None, rel: str | None) -> Relation:
    """One rpm dependency entry as a Relation (flags as primary spells them, or rpm's bits)."""
    op = FLAGS.get(flags or "") or _flag_bits(flags)
    if op is None or not ver:
        return Relation(name)
    return Relation(name, op, format_evr(epoch, ver, rel))


def _flag_bits(flags: str | None) -> str | None:
    """sqlite databases store rpm's sense bits (LESS=2, GREATER=4, EQUAL=8) as text in some
    versions of yum; primary.xml spells them out. Both are accepted."""
    bits = number(flags) & 0xE
    return {2: "<", 4: ">", 8: "=", 10: "<=", 12: ">="}.get(bits)


def _requires(entries: list[tuple[Relation | str, bool]]) -> tuple[list[Dependency], list[Dependency]]:
    """(depends, pre_depends) from (relation or rich text, pre) pairs, rpmlib() skipped;
    duplicates dropped, first occurrence kept (dicts as ordered sets: linear in the entries)."""
    deps: dict[Dependency, None] = {}
    pre: dict[Dependency, None] = {}
    for item, is_pre in entries:
        if isinstance(item, str):
            try:
                clauses = requirement(item)
            except RichDepError:
                clauses = []  # unparseable: rpm would refuse the package long before us
        elif item.name.startswith("rpmlib("):
            continue  # rpm provides its own features; no package does
        else:
            clauses = [(item,)]
        for clause in clauses:
            deps[clause] = None
            if is_pre:
                pre[clause] = None
    return list(deps), list(pre)


def _conflicts(entries: list[tuple[Relation | str, bool]]) -> tuple[tuple[Relation, ...], list[Dependency]]:
    """(conflicts, clauses): a rich Conflicts is the requirement of its negation, as libsolv
    reads it (richdep.conflict); what is not a plain conflict becomes conflict_clauses."""
    plain: list[Relation] = []
    clauses: list[Dependency] = []
    for item, _ in entries:
        if not isinstance(item, str):
            plain.append(item)
            continue
        try:
            more, rest = conflict(item)
        except RichDepError:
            continue
        plain += more
        clauses += rest
    return tuple(plain), clauses


def _negative(entries: list[Relation | str]) -> tuple[Relation, ...]:
    out: list[Relation] = []
    for item in entries:
        if isinstance(item, str):
            try:
                out += conflict_atoms(item)
            except RichDepError:
                continue
        else:
            out.append(item)
    return tuple(out)


def _entries(fmt: ET.Element | None, tag: str) -> list[tuple[Relation | str, bool]]:
    if fmt is None:
        return []
    found: list[tuple[Relation | str, bool]] = []
    for entry in fmt.iterfind(f"{RPM}{tag}/{RPM}entry"):
        name = entry.get("name", "")
        if name.startswith("("):
            found.append((name, entry.get("pre") in ("1", "true")))
            continue
        found.append((relation(name, entry.get("flags"), entry.get("epoch"), entry.get("ver"),
                               entry.get("rel")), entry.get("pre") in ("1", "true")))
    return found


def _package(el: ET.Element, repo_url: str, repo_id: str) -> Package | None:
    arch = el.findtext(f"{COMMON}arch") or ""
    if el.get("type", "rpm") != "rpm" or arch in _SOURCE_ARCHES:
        return None
    where = f"primary metadata of {repo_id or repo_url}"
    name = checked_name(el.findtext(f"{COMMON}name") or "", "name", where)
    checked_word(arch, f"architecture of {name}", where)
    v = el.find(f"{COMMON}version")
    version = format_evr(v.get("epoch"), v.get("ver", ""), v.get("rel")) if v is not None else ""
    checked_word(version, f"version of {name}", where)
    ck = el.find(f"{COMMON}checksum")
    checksums = (Checksum(checksum_algo(ck.get("type", "sha256")), (ck.text or "").strip().lower()),) \
        if ck is not None and ck.text else ()
    loc = el.find(f"{COMMON}location")
    href = loc.get("href", "") if loc is not None else ""
    base = (loc.get(XML_BASE) if loc is not None else None) or repo_url
    size = el.find(f"{COMMON}size")
    fmt = el.find(f"{COMMON}format")
    deps, pre = _requires(_entries(fmt, "requires"))
    conflicts, rich_conflicts = _conflicts(_entries(fmt, "conflicts"))
    recommends, suggests, supplements, enhances = (
        tuple(_requires(_entries(fmt, weak))[0]) for weak in ("recommends", "suggests", "supplements", "enhances"))
    files = tuple((f.text or "") for f in fmt.iterfind(f"{COMMON}file")) if fmt is not None else ()
    hdr = fmt.find(f"{RPM}header-range") if fmt is not None else None
    time = el.find(f"{COMMON}time")
    fields = [("summary", el.findtext(f"{COMMON}summary") or ""),
              ("sourcerpm", fmt.findtext(f"{RPM}sourcerpm") or "" if fmt is not None else ""),
              ("license", fmt.findtext(f"{RPM}license") or "" if fmt is not None else ""),
              ("vendor", fmt.findtext(f"{RPM}vendor") or "" if fmt is not None else ""),
              ("packager", fmt.findtext(f"{RPM}packager") or "" if fmt is not None else ""),
              ("buildtime", time.get("build", "") if time is not None else ""),
              ("header-end", hdr.get("end", "") if hdr is not None else "")]
    return Package(
        name=name, version=version, arch=arch, depends=tuple(deps), pre_depends=tuple(pre),
        conflict_clauses=tuple(rich_conflicts),
        recommends=recommends, suggests=suggests, supplements=supplements, enhances=enhances,
        provides=tuple(r for r, _ in _entries(fmt, "provides") if isinstance(r, Relation)),
        conflicts=conflicts,
        obsoletes=_negative([r for r, _ in _entries(fmt, "obsoletes")]),
        files=files,
        size=checked_size(number(size.get("package") if size is not None else None), f"size of {name}", where),
        installed_size=checked_size(number(size.get("installed") if size is not None else None),
                                    f"installed size of {name}", where),
        location=join_url(base, href), checksums=checksums, repo=repo_id,
        fields=tuple((k, v) for k, v in fields if v))


def parse_primary(stream: IO[bytes], repo_url: str, repo_id: str = "") -> list[Package]:
    """Every binary package of a primary.xml stream (decompressed); RepositoryIndexError when
    the stream is not primary XML (or its decompression fails, or it declares XML entities,
    or a package's name, version or size is refused: bootstrap.adapters.checks)."""
    packages: list[Package] = []
    try:
        for _, el in ET.iterparse(guarded(stream, f"primary metadata of {repo_url}"), events=("end",)):
            if el.tag == f"{COMMON}package":
                pkg = _package(el, repo_url, repo_id)
                if pkg is not None:
                    packages.append(pkg)
                el.clear()
    except (ET.ParseError, LookupError, EOFError, OSError) as exc:  # LookupError: unknown encoding=
        raise RepositoryIndexError(f"primary metadata of {repo_url} is corrupt: {exc}") from None
    return packages


def parse_filelists(stream: IO[bytes], wanted: Collection[str]) -> dict[str, tuple[str, ...]]:
    """pkgid → the paths among `wanted` that the package holds (filelists.xml, decompressed).
    Only wanted paths are kept: the whole file list of a distribution is hundreds of MB."""
    found: dict[str, list[str]] = {}
    wanted = frozenset(wanted)
    try:
        for _, el in ET.iterparse(guarded(stream, "filelists metadata"), events=("end",)):
            if el.tag == f"{FILELISTS}package":
                paths = [f.text for f in el.iterfind(f"{FILELISTS}file") if f.text in wanted]
                if paths:
                    found.setdefault(el.get("pkgid", ""), []).extend(p for p in paths if p)
                el.clear()
    except (ET.ParseError, LookupError, EOFError, OSError) as exc:  # LookupError: unknown encoding=
        raise RepositoryIndexError(f"filelists metadata is corrupt: {exc}") from None
    return {k: tuple(v) for k, v in found.items()}


def iter_file_deps(packages: Collection[Package]) -> Iterator[str]:
    """Every file path some package requires."""
    for pkg in packages:
        for dep in pkg.depends:
            for rel in dep:
                if rel.is_file:
                    yield rel.name


def unmet_file_deps(packages: Collection[Package]) -> set[str]:
    """File dependencies that no package's listed files (or path-named provides, as EL9's bash
    `Provides: /bin/sh`) meet: the candidates for reading filelists."""
    have = {path for pkg in packages for path in pkg.files}
    have |= {rel.name for pkg in packages for rel in pkg.provides if rel.is_file}
    return {path for path in iter_file_deps(packages) if path not in have}


def parse_primary_db(db: bytes, repo_url: str, repo_id: str = "") -> list[Package]:
    """Every binary package of a primary.sqlite database (decompressed bytes), read in memory.
    RepositoryIndexError for no bytes at all (sqlite's deserialize calls an empty image out of
    memory), and for text that is not UTF-8 (in a value, or in sqlite's own message about a
    damaged schema, which Python decodes)."""
    if not db:
        raise RepositoryIndexError(f"primary database of {repo_url} is empty")
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(db)
        return _db_packages(con, repo_url, repo_id)
    except sqlite3.Error as exc:  # DatabaseError for garbage, OperationalError for a wrong schema
        raise RepositoryIndexError(f"primary database of {repo_url} is unreadable: {exc}") from None
    except UnicodeDecodeError:
        raise RepositoryIndexError(f"primary database of {repo_url} is unreadable: text that is not UTF-8") from None
    finally:
        con.close()


def _text(value: object) -> str:
    """A column as text: sqlite keeps whatever its writer stored there (NULL, a number, a
    blob), and a database from the network is read as untrusted as primary.xml is."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _db_relations(con: sqlite3.Connection, table: str) -> Mapping[int, list[tuple[Relation | str, bool]]]:
    cols = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
    pre = "pre" if "pre" in cols else "'FALSE'"
    out: dict[int, list[tuple[Relation | str, bool]]] = {}
    for key, *text, is_pre in con.execute(
            f"SELECT pkgKey, name, flags, epoch, version, release, {pre} FROM {table}"):
        name, flags, epoch, ver, rel = map(_text, text)
        item: Relation | str = name if name.startswith("(") else relation(name, flags, epoch, ver, rel)
        out.setdefault(key, []).append((item, str(is_pre).upper() in ("TRUE", "1")))
    return out


def _db_packages(con: sqlite3.Connection, repo_url: str, repo_id: str) -> list[Package]:
    tables = {name: _db_relations(con, name) for name in ("requires", "provides", "conflicts", "obsoletes")}
    files: dict[int, list[str]] = {}
    for key, name in con.execute("SELECT pkgKey, name FROM files"):
        files.setdefault(key, []).append(_text(name))
    packages = []
    for row in con.execute("SELECT pkgKey, pkgId, name, arch, epoch, version, release, checksum_type, "
                           "location_href, location_base, size_package, size_installed, summary, "
                           "rpm_sourcerpm FROM packages"):
        key, *text = row
        pkgid, name, arch, epoch, ver, rel, ck_type, href, base, size, inst, summary, srpm = map(_text, text)
        if arch in _SOURCE_ARCHES:
            continue
        where = f"primary database of {repo_id or repo_url}"
        checked_name(name, "name", where)
        checked_word(arch, f"architecture of {name}", where)
        checked_word(format_evr(epoch, ver, rel), f"version of {name}", where)
        deps, pre = _requires(tables["requires"].get(key, []))
        conflicts, rich_conflicts = _conflicts(tables["conflicts"].get(key, []))
        packages.append(Package(
            name=name, version=format_evr(epoch, ver, rel), arch=arch, depends=tuple(deps),
            conflict_clauses=tuple(rich_conflicts),
            pre_depends=tuple(pre),
            provides=tuple(r for r, _ in tables["provides"].get(key, []) if isinstance(r, Relation)),
            conflicts=conflicts,
            obsoletes=_negative([r for r, _ in tables["obsoletes"].get(key, [])]),
            files=tuple(files.get(key, ())), size=checked_size(number(size), f"size of {name}", where),
            installed_size=checked_size(number(inst), f"installed size of {name}", where),
            location=join_url(base or repo_url, href), repo=repo_id,
            checksums=(Checksum(checksum_algo(ck_type), pkgid.lower()),) if pkgid else (),
            fields=tuple((k, v) for k, v in (("summary", summary), ("sourcerpm", srpm)) if v)))
    return packages
