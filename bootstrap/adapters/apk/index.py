"""APKINDEX parsing: the text index into `Package` records, and the signed tarball around it.

The index is stanzas of one-letter fields separated by blank lines (apk-tools' database
format, the same one /lib/apk/db/installed uses):

    C: Q1 + base64 SHA-1 of the package's control stream   P: name      V: version
    A: arch   S: .apk size   I: installed size   T: description   U: url   L: license
    o: origin   m: maintainer   t: build time   c: source commit   k: provider_priority
    D: dependencies (space separated)   p: provides   i: install_if   r: replaces

A dependency token is `[!]name[op version]` with op among `<`, `<=`, `=`, `>=`, `>`, `~`
(fuzzy) and `><` (a checksum pin, kept as `=` on the version text); `!` makes it a conflict
in `D:`, a negated trigger in `i:`. A stanza may repeat `p:`: every line's provides count.
Names include `so:libc.musl-x86_64.so.1`, `cmd:sh`, `pc:zlib`. A provide is `name` or
`name=version`; only versioned provides satisfy versioned dependencies (apk's rule).

The package's location is `<repository url>/<arch>/<P>-<V>.apk`, `arch` being the index's own
directory (noarch packages live in each arch's directory). Pure: no network, no disk.
"""
from __future__ import annotations

import io
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bootstrap import compression
from bootstrap.adapters.apk.package import gunzip, split_signed
from bootstrap.adapters.checks import checked_name, checked_size, checked_word, clip
from bootstrap.errors import RepositoryIndexError, UnpackError, VerificationError
from bootstrap.trust import rsa
from bootstrap.types import Dependency, Log, Package, Relation

# The longest version an index may give (real ones are under 50 characters): comparing is
# linear in the length, and a version is part of a file name.
MAX_VERSION = 1024

# Longest operators first so `<=` is not read as `<` (fastindex reads tokens with the same).
TOKEN_OPERATORS = r"><|>=|<=|=~|>~|<~|~|=|<|>"
_DEP_RE = re.compile(rf"^(?P<neg>!)?(?P<name>[^<>=~!\s]+)(?:(?P<op>{TOKEN_OPERATORS})(?P<ver>\S+))?$")
_OP_MAP = {"><": "=", "=~": "~", ">~": ">=", "<~": "<="}


def parse_relation(token: str) -> tuple[Relation, bool]:
    """One dependency token → (relation, is_conflict). A bare `@tag` pin is dropped from the
    name (world files only; repositories are not tagged here)."""
    match = _DEP_RE.match(token)
    if match is None:
        raise RepositoryIndexError(f"unreadable apk dependency {clip(token)}")
    name = match["name"].split("@", 1)[0]
    op = match["op"]
    if op is None:
        return Relation(name), bool(match["neg"])
    return Relation(name, _OP_MAP.get(op, op), _bounded(match["ver"], f"dependency {clip(name)}")), bool(match["neg"])


def _bounded(version: str, what: str) -> str:
    """`version` unless it is longer than MAX_VERSION (RepositoryIndexError)."""
    if len(version) > MAX_VERSION:
        raise RepositoryIndexError(f"the version of {what} is {len(version)} characters long; refusing "
                                   f"(more than {MAX_VERSION})", hint="the index is corrupt or hostile")
    return version


def parse_depends(text: str) -> tuple[tuple[Dependency, ...], tuple[Relation, ...]]:
    """A `D:` field → (dependencies, conflicts)."""
    depends: list[Dependency] = []
    conflicts: list[Relation] = []
    for token in text.split():
        relation, negated = parse_relation(token)
        if negated:
            conflicts.append(relation)
        else:
            depends.append((relation,))
    return tuple(depends), tuple(conflicts)


def parse_relations(text: str) -> tuple[Relation, ...]:
    """A `p:` or `r:` field: relations, none negated."""
    return tuple(parse_relation(token)[0] for token in text.split())


def parse_install_if(text: str) -> tuple[Relation, ...]:
    """An `i:` field: the install_if triggers; `!name` is a negated one (it holds while nothing
    provides name), as apk-tools reads it."""
    triggers = []
    for token in text.split():
        relation, negated = parse_relation(token)
        triggers.append(Relation(relation.name, relation.op, relation.version, negated=True)
                        if negated else relation)
    return tuple(triggers)


def iter_stanzas(text: str) -> Iterator[list[tuple[str, str]]]:
    """Stanzas of (letter, value) pairs, in file order; lines without `X:` are skipped."""
    stanza: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if stanza:
                yield stanza
                stanza = []
            continue
        if len(line) >= 2 and line[1] == ":":
            stanza.append((line[0], line[2:]))
    if stanza:
        yield stanza


def package_from_stanza(fields: list[tuple[str, str]], repo_url: str, arch: str,
                        repo_id: str = "") -> Package:
    """One index stanza → Package (raw fields kept for /lib/apk/db/installed). The name,
    version and arch become file names (`P-V.apk`, scripts.tar's `P-V.C.script`): refused
    when they could not be (bootstrap.adapters.checks), as absurd sizes are."""
    one: dict[str, str] = {}  # the first of each letter (repeats are kept only in `fields`)
    # Every `p:` line counts: apk-tools appends each one to the package's provides.
    provides = " ".join(value for key, value in fields if key == "p")
    for key, value in fields:
        one.setdefault(key, value)
    where = f"APKINDEX of {repo_id or repo_url}"
    if "P" not in one or "V" not in one:
        raise RepositoryIndexError(f"{where}: a stanza has no P:/V: field")
    name = checked_name(one["P"], "name", where)
    if not one["V"]:
        raise RepositoryIndexError(f"{where}: package {name} has an empty version")
    checked_word(_bounded(one["V"], f"package {name} in {where}"), f"version of {name}", where)
    pkg_arch = checked_word(one.get("A", arch), f"architecture of {name}", where)
    depends, conflicts = parse_depends(one.get("D", ""))
    base = repo_url.rstrip("/")
    return Package(
        name=name, version=one["V"], arch=pkg_arch,
        depends=depends, conflicts=conflicts,
        provides=parse_relations(provides),
        install_if=parse_install_if(one.get("i", "")),
        replaces=parse_relations(one.get("r", "")),
        provider_priority=_int(one.get("k", "0")),
        size=checked_size(_int(one.get("S", "0")), f"size of {name}", where),
        installed_size=checked_size(_int(one.get("I", "0")), f"installed size of {name}", where),
        location=f"{base}/{arch}/{one['P']}-{one['V']}.apk",
        repo=repo_id, section=one.get("o", ""),
        fields=tuple(fields))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def parse_apkindex(text: str, repo_url: str, arch: str, repo_id: str = "") -> list[Package]:
    """Every package of an APKINDEX text."""
    return [package_from_stanza(s, repo_url, arch, repo_id) for s in iter_stanzas(text)]


@dataclass(frozen=True)
class IndexFile:
    """An APKINDEX.tar.gz read: its DESCRIPTION, APKINDEX text, the key that verified it
    ("" when unchecked) and `built`, the newest mtime of its signed tar entries (when
    `apk index` made it; 0 when the maker wrote none, as apko and melange do). `control` is
    (offset, length) of the control stream, the bytes the signatures cover, in the file."""

    description: str
    text: str
    signer: str = ""
    built: int = 0
    control: tuple[int, int] = (0, 0)


def read_index(data: bytes, keys: dict[str, bytes] | None, what: str,
               log: Log | None = None) -> IndexFile:
    """Split and (unless `keys` is None: --no-verify) verify an APKINDEX.tar.gz."""
    try:
        signed = split_signed(data, what)
    except UnpackError as exc:
        raise RepositoryIndexError(exc.message) from None
    signer = ""
    if keys is not None:
        if not keys:
            raise VerificationError(f"{what}: no trusted apk keys are configured",
                                    hint="pass the repository's public key with --keyring FILE")
        signer = rsa.verify(signed.control_stream, signed.signatures, keys, what, log=log)
    if "APKINDEX" not in signed.control:
        raise RepositoryIndexError(f"{what} holds no APKINDEX file")
    description = signed.control.get("DESCRIPTION", b"").decode("utf-8", "replace").strip()
    # split_signed cuts the file as signatures + control stream + the rest (unread).
    offset = len(data) - len(signed.control_stream) - len(signed.data_stream)
    return IndexFile(description, signed.control["APKINDEX"].decode("utf-8", "replace"), signer,
                     control_mtime(signed.control_stream), (offset, len(signed.control_stream)))


def control_mtime(stream: bytes) -> int:
    """The newest mtime of the tar entries in one gzip stream (whole seconds; 0 when it holds
    none, or none is readable)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(gunzip(stream)), mode="r:") as tar:
            return max((max(int(info.mtime), 0) for info in tar), default=0)
    except (tarfile.TarError, zlib.error, compression.TooLarge, ValueError, OverflowError):
        return 0


def read_index_tarball(data: bytes, keys: dict[str, bytes] | None, what: str,
                       log: Log | None = None) -> tuple[str, str]:
    """(DESCRIPTION, APKINDEX text) of a verified APKINDEX.tar.gz (see read_index)."""
    index = read_index(data, keys, what, log)
    return index.description, index.text


def format_relation(relation: Relation, negated: bool = False) -> str:
    """A relation back in apk's token syntax (`so:libc.musl-x86_64.so.1`, `busybox>=1.2`)."""
    text = ("!" if negated else "") + relation.name
    return text if relation.op is None else f"{text}{relation.op}{relation.version}"


def names_in(packages: Iterable[Package]) -> set[str]:
    """Every name a set of packages answers to (their names and provides)."""
    names = set()
    for pkg in packages:
        names.add(pkg.name)
        names.update(p.name for p in pkg.provides)
    return names
