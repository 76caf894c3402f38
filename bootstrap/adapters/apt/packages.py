"""Debian's Packages index and relation fields, turned into `Package` records. Pure: bytes in,
records out; nothing here touches the network or the disk.

Contracts:
- `split_stanzas(data)` yields each paragraph of a deb822 index as an ordered list of
  `(field, value)` (deb822.py reads them: a value keeps its continuation lines verbatim, the way
  dpkg writes them back into its status file); a malformed line is a RepositoryIndexError.
- `parse_relations(text)` reads Depends-style fields; operators come out in types.py's form.
- `parse_packages(data, base_url=, repo_id=, order=)` returns one Package per stanza, in index
  order; `index_order` numbers names as apt's cache does (`mentioned_names`).
- `debian_version_scheme(arch)` orders versions as dpkg does.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from debian.debian_support import version_compare

from bootstrap.adapters.apt import deb822
from bootstrap.adapters.apt.facts import ARCH_INDEPENDENT
from bootstrap.adapters.checks import checked_name, checked_size, checked_word, clip
from bootstrap.errors import RepositoryIndexError
from bootstrap.types import Checksum, Dependency, Package, Relation, VersionScheme

# dpkg's operators, and the two obsolete ones that dpkg still reads as "<=" and ">=".
_OPERATORS = {"<<": "<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">", "<": "<=", ">": ">="}
_RELATION = re.compile(
    r"""^\s*(?P<name>[^\s:(\[<]+)
        (?::(?P<arch>[A-Za-z0-9_-]+))?\s*
        (?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^\s)<>=][^\s)]*)\s*\))?\s*
        (?:\[(?P<archs>[^\]]*)\])?\s*
        (?:<[^>]*>\s*)*$""",
    re.VERBOSE,
)

# Debian's priorities, most fundamental first; a provider from a more basic priority wins ties.
PRIORITY_RANK = {"required": 5, "important": 4, "standard": 3, "optional": 2, "extra": 1}


def provider_priority(priority: str) -> int:
    """The Priority field as a rank, higher wins, as apt's CompareProviders ranks it: an
    unknown word counts as extra (debListParser); a stanza without one keeps apt's 0, which
    sorts before required (no real archive omits it; synthetic ones do)."""
    if not priority:
        return 6
    return PRIORITY_RANK.get(priority.lower(), 1)

# The longest version compared (real ones are under 100 characters).
MAX_VERSION = 1024
_HOSTILE = "the index is corrupt or hostile; use another mirror"

# Digest fields of a Packages stanza, strongest first, with their hashlib names.
_DIGEST_FIELDS = (("SHA512", "sha512"), ("SHA256", "sha256"), ("SHA1", "sha1"), ("MD5sum", "md5"))


def split_stanzas(data: bytes | str) -> Iterator[list[tuple[str, str]]]:
    """Each paragraph of a deb822 index (Packages, Release) as ordered (field, value) pairs
    (deb822.stanzas); a malformed line is a RepositoryIndexError."""
    return deb822.stanzas(data, _bad_index_line)


def _bad_index_line(line: str) -> RepositoryIndexError:
    return RepositoryIndexError(f"malformed index line {clip(line, 60)} (no 'Field:')",
                                hint="the index is corrupt or not a deb822 file")


@functools.lru_cache(maxsize=1 << 16)
def parse_relations(text: str, *, arch: str | None = None) -> tuple[Dependency, ...]:
    """A Depends-style field: `a (>= 1) | b:any, c [amd64]` → ((a>=1, b:any), (c,)).

    `<<`/`>>` become `<`/`>`; the obsolete `<`/`>` mean `<=`/`>=` as in dpkg. Architecture
    lists (`[amd64 !i386]`) are honoured when `arch` is given (alternatives that do not apply
    are dropped) and ignored otherwise; build profiles (`<!nocheck>`) are ignored."""
    deps: list[Dependency] = []
    for group in text.split(","):
        if not group.strip():
            continue
        alternatives = []
        for atom in group.split("|"):
            relation, archs = _parse_atom(atom.strip())
            if arch is None or _arch_applies(archs, arch):
                alternatives.append(relation)
        if alternatives:
            deps.append(tuple(alternatives))
    return tuple(deps)


@functools.lru_cache(maxsize=1 << 16)
def _parse_atom(atom: str) -> tuple[Relation, str | None]:
    """One alternative; cached (with parse_relations) because `libc6 (>= 2.36)` and its like
    recur tens of thousands of times in one index, and a shared frozen Relation is also smaller."""
    match = _RELATION.match(atom.replace("\n", " "))
    if match is None:
        raise RepositoryIndexError(f"cannot parse relation {clip(atom)}",
                                   hint="the index is corrupt or uses a syntax dpkg does not know")
    op = match["op"]
    relation = Relation(match["name"], _OPERATORS[op] if op else None, match["version"], match["arch"])
    return relation, match["archs"]


def _arch_applies(archs: str | None, arch: str) -> bool:
    """dpkg's rule: `[a b]` lists where the relation applies, `[!a !b]` where it does not."""
    if archs is None:
        return True
    words = archs.split()
    negated = [w[1:] for w in words if w.startswith("!")]
    if negated:
        return arch not in negated
    return arch in words


@functools.lru_cache(maxsize=1 << 14)
def parse_flat_relations(text: str) -> tuple[Relation, ...]:
    """Provides, Conflicts, Breaks, Replaces: one relation per comma-separated item."""
    return tuple(rel for dep in parse_relations(text) for rel in dep)


def parse_packages(data: bytes | str, *, base_url: str, repo_id: str,
                   order: dict[str, int] | None = None) -> list[Package]:
    """Every stanza of a Packages index as a Package.

    `location` = `base_url` (the archive root; a "/" is added if missing) + Filename, without a
    leading "./" (flat repositories write `Filename: ./x.deb`). Depends = Pre-Depends + Depends;
    conflicts = Conflicts + Breaks; `fields` is the stanza as the index wrote it. `order`
    numbers names as apt's cache does (`mentioned_names`); pass one dict to the indexes of a
    build in apt's order (sources, then components) for `index_order` to span them all."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    names: dict[str, int] = {} if order is None else order
    return [_package(stanza, base, repo_id, names) for stanza in split_stanzas(data)]


# The fields whose targets apt's cache makes a package of, in the order debListParser reads
# them (NewVersion: Pre-Depends .. Enhances, then Provides); negative ones too, while the
# name is new (pkgCacheListParser::NewDepends).
_MENTIONING = ("pre-depends", "depends", "conflicts", "breaks", "recommends", "suggests", "replaces",
               "enhances", "provides")


def mentioned_names(fields: dict[str, str]) -> Iterator[str]:
    """The names a stanza (lower-case field names) makes apt's cache know, in apt's order:
    the package itself, then every relation's target (`name:any` is a name of its own)."""
    yield fields.get("package", "")
    for key in _MENTIONING:
        if fields.get(key):
            yield from _targets(fields[key])


@functools.lru_cache(maxsize=1 << 16)
def _targets(text: str) -> tuple[str, ...]:
    found = []
    for item in re.split(r"[,|]", text):
        name, _, arch = item.strip().partition(" ")[0].partition("(")[0].partition(":")
        if name:
            found.append(f"{name}:any" if arch == "any" else name)
    return tuple(found)


def _package(stanza: list[tuple[str, str]], base: str, repo_id: str, order: dict[str, int]) -> Package:
    f = {k.lower(): v for k, v in stanza}
    for mentioned in mentioned_names(f):
        order.setdefault(mentioned, len(order) + 1)
    name, version = f.get("package", ""), f.get("version", "")
    if not name or not version:
        raise RepositoryIndexError(f"index of {repo_id} has a stanza without Package/Version "
                                   f"(after {clip(name) if name else '?'})", hint="the index is corrupt")
    where = f"index of {repo_id}"
    checked_name(name, "name", where)  # dpkg's info files are NAME[:ARCH].list, ...
    checked_word(version, f"version of {name}", where)
    arch = checked_word(f.get("architecture", ""), f"architecture of {name}", where)
    filename = f.get("filename", "")
    while filename.startswith("./"):
        filename = filename[2:]
    pre = parse_relations(f.get("pre-depends", ""))
    priority = f.get("priority", "")
    return Package(
        name=name, version=version, arch=arch,
        depends=pre + parse_relations(f.get("depends", "")), pre_depends=pre,
        recommends=parse_relations(f.get("recommends", "")),
        provides=parse_flat_relations(f.get("provides", "")),
        conflicts=parse_flat_relations(f.get("conflicts", "")) + parse_flat_relations(f.get("breaks", "")),
        replaces=parse_flat_relations(f.get("replaces", "")),
        essential=f.get("essential", "").lower() == "yes",
        priority=priority, multi_arch=f.get("multi-arch", "").lower(),
        provider_priority=provider_priority(priority), index_order=order.get(name, 0),
        size=checked_size(_int(f.get("size")), f"Size of {name}", where),
        # Installed-Size is in KiB.
        installed_size=checked_size(_int(f.get("installed-size")) << 10, f"Installed-Size of {name}", where) >> 10,
        location=base + filename if filename else "",
        checksums=tuple(Checksum(algo, f[key.lower()].lower())
                        for key, algo in _DIGEST_FIELDS if f.get(key.lower())),
        repo=repo_id, section=f.get("section", ""), fields=tuple(stanza),
    )


def _int(text: str | None) -> int:
    """Sizes are advisory for resolving; a garbled one must not sink the whole index."""
    try:
        return int(text or 0)
    except ValueError:
        return 0


@functools.lru_cache(maxsize=1 << 16)
def compare_versions(a: str, b: str) -> int:
    """dpkg's ordering (epochs, `~` before everything, letters before non-letters); cached
    because the resolver compares the same few thousand versions over and over. A version
    dpkg would refuse (`1.0 beta`, `:1`), which an index can carry in Version or in a
    relation, is a RepositoryIndexError naming it; so is one longer than MAX_VERSION
    (python-debian compares in time quadratic in the length: 2.5 s for two 70,000-character
    versions, and its int() of an epoch stops at 4,300 digits)."""
    for version in (a, b):
        if len(version) > MAX_VERSION:
            raise RepositoryIndexError(f"Debian version {clip(version)} is {len(version)} characters long; refusing "
                                       f"(more than {MAX_VERSION})", hint=_HOSTILE)
    try:
        return version_compare(a, b)
    except ValueError:
        bad = next((v for v in (a, b) if not _valid_version(v)), f"{a} or {b}")
        raise RepositoryIndexError(f"invalid Debian version {clip(bad)}", hint=_HOSTILE) from None


def _valid_version(version: str) -> bool:
    try:
        version_compare(version, version)
    except ValueError:
        return False
    return True


def debian_version_scheme(arch: str) -> VersionScheme:
    """Versions ordered as dpkg does; packages of `arch` rank 2, `all` 1, anything else cannot
    be installed (foreign architectures are not enabled in a bootstrap)."""

    def arch_rank(pkg_arch: str) -> int | None:
        if pkg_arch == arch:
            return 2
        if pkg_arch == "all":
            return 1
        return None

    return VersionScheme(compare=compare_versions, arch_rank=arch_rank, arch_independent=ARCH_INDEPENDENT)
