"""Fetching one yum repository's metadata: repomd.xml (failover, mirrorlist, .asc), primary,
and filelists on demand. Network only through the fetcher; parsing in repomd/primary.

Failover: the repository's baseurl, then its other baseurls (`alternates`), then the URLs its
mirrorlist= lists (plain list or metalink), in that order; the first that serves
repodata/repomd.xml is used for everything after. A mirror that is unreachable or lacks the
file is skipped with a log line ("trying the next mirror" only when there is one). When none
serves it: every one unreachable is `cannot reach HOST (why)` (several: one line naming each);
else RepositoryNotFound, which says which architectures the mirror has when the tree lacks
the target's (sibling directories in its listing) and otherwise lists what was tried. The
candidates not tried yet (the mirrorlist only if it was read) stay the repository's other
mirrors: a metadata file (primary, filelists, comps) or a package that fails at the mirror in
use is fetched from them, in order, under the same path and held to the same digest.

The repomd.xml used is then held to what this cache saw of that mirror (rollback.py): older,
or stripped of a signature it had, is refused.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bootstrap import compression
from bootstrap.adapters.mirrors import all_failed, arch_words, mirror_hint, reach_error, sibling_arches
from bootstrap.adapters.yum import fastprimary
from bootstrap.adapters.yum.facts import FACTS
from bootstrap.adapters.yum.primary import parse_filelists, parse_primary, parse_primary_db
from bootstrap.adapters.yum.repomd import RepoFile, RepoMd, decompress, decompress_stream, join_url, parse_repomd
from bootstrap.adapters.yum.rollback import ABSENT, UNCHECKED, VERIFIED, check_repomd_freshness
from bootstrap.errors import (
    BootstrapError,
    FetchError,
    RepositoryIndexError,
    RepositoryNotFound,
    Unreachable,
    VerificationError,
)
from bootstrap.indexcache import Entry, IndexCache, new_entry
from bootstrap.types import Fetcher, FetchItem, IndexStamp, Log, Package, Repository, iso_utc

_METALINK_URL = re.compile(rb"<url[^>]*>\s*([^<\s]+)\s*</url>")
_REPOMD = "repodata/repomd.xml"


@dataclass(frozen=True)
class RepoState:
    """A loaded repository: where it answered, its repomd, and how its packages are checked."""

    repo: Repository
    url: str
    repomd: RepoMd
    keyrings: tuple[str, ...]
    gpgcheck: bool
    # The repository's other mirrors, after `url`: what a metadata or package download that
    # fails at `url` tries next (the candidates not yet tried when `url` answered).
    mirrors: tuple[str, ...] = ()
    # repomd.xml as read (what a lock records) and the keys that verified its .asc.
    stamp: IndexStamp | None = None
    signers: tuple[str, ...] = ()


def _mirrorlist(repo: Repository, fetcher: Fetcher, log: Log) -> list[str]:
    if not repo.mirrorlist:
        return []
    try:
        data = fetcher.try_get_bytes(repo.mirrorlist)
    except FetchError as exc:
        log(f"{repo.id}: mirrorlist {repo.mirrorlist} unreachable: {exc.message}")
        return []
    if not data:
        return []
    if data.lstrip().startswith(b"<"):  # metalink: URLs of repomd.xml itself
        urls = [u.decode("utf-8", "replace") for u in _METALINK_URL.findall(data)]
        return [u.removesuffix("repodata/repomd.xml") for u in urls if u.startswith(("http", "file"))]
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def repo_keyrings(repo: Repository, fetcher: Fetcher) -> tuple[str, ...]:
    """Local key files as they are; gpgkey= URLs fetched (into the fetcher's cache)."""
    keys = []
    for key in repo.keyrings:
        if "://" in key:
            keys.append(str(fetcher.get_file(FetchItem(key, name=f"key of {repo.id}"))))
        else:
            keys.append(key)
    return tuple(keys)


def fetch_repomd(repo: Repository, fetcher: Fetcher, log: Log, basearch: str = "") -> RepoState:
    """repomd.xml from the first mirror that answers, its signature checked (module docstring).
    `basearch` (the tree's architecture directory) lets a mirror without it say which it has."""
    base, data, candidates = _first_repomd(repo, fetcher, log, basearch)
    repomd = parse_repomd(data)
    keyrings = repo_keyrings(repo, fetcher) if repo.verify else ()
    signers: list[str] = []
    signature = _check_repomd(repo, base, data, keyrings, fetcher, log, signers)
    # A frozen or replayed mirror: older than this cache saw, or its signature stripped.
    check_repomd_freshness(repo, join_url(base, "repodata/repomd.xml"), repomd, signature, fetcher)
    gpgcheck = repo.verify and repo.option("gpgcheck", "1") != "0"
    # Mirrors that already failed to serve repomd.xml are not offered again: a dead host
    # would cost every later download its retries.
    stamp = IndexStamp(join_url(base, "repodata/repomd.xml"), hashlib.sha256(data).hexdigest(),
                       iso_utc(repomd.timestamp) if repomd.timestamp else "")
    return RepoState(repo, base, repomd, keyrings, gpgcheck, tuple(u for u in candidates if u != base),
                     stamp, tuple(signers))


def _first_repomd(repo: Repository, fetcher: Fetcher, log: Log, basearch: str) -> tuple[str, bytes, list[str]]:
    """(the first candidate that serves repodata/repomd.xml, its bytes, the candidates not
    tried yet); _no_repomd's error when none does."""
    failures: list[tuple[str, FetchError | None]] = []  # (base, why; None: not there)
    candidates = [repo.url, *repo.alternates]
    mirrorlist_read = not repo.mirrorlist
    while True:
        if not candidates:
            if mirrorlist_read:
                raise _no_repomd(repo, failures, fetcher, basearch)
            candidates, mirrorlist_read = _mirrorlist(repo, fetcher, log), True
            continue
        base = candidates.pop(0)
        try:
            data = fetcher.try_get_bytes(join_url(base, _REPOMD))
        except FetchError as exc:
            failures.append((base, exc))
            then = "; trying the next mirror" if candidates else \
                "; trying the mirrorlist" if not mirrorlist_read else ""
            log(f"{repo.id}: {base} unreachable ({exc.message}){then}")
            continue
        if data is not None:
            return base, data, candidates
        failures.append((base, None))
        log(f"{repo.id}: no repomd.xml at {base}")


def _no_repomd(repo: Repository, failures: Sequence[tuple[str, FetchError | None]], fetcher: Fetcher,
               basearch: str) -> BootstrapError:
    """Why no candidate served repomd.xml: an unreachable mirror as `cannot reach HOST`, a
    tree without `basearch` whose siblings the mirror lists as `no ARCH tree at URL (the
    mirror has: ...)`, else RepositoryNotFound naming what was tried (an optional repository
    is then skipped). Each hint says how to give a mirror and the layout it must have."""
    missing = [base for base, exc in failures if exc is None]
    errors: list[tuple[str, BootstrapError]] = [
        (base, reach_error(replace(repo, url=base), exc) if isinstance(exc, Unreachable) else exc)
        for base, exc in failures if exc is not None]
    if errors and not missing:
        return errors[0][1] if len(errors) == 1 else all_failed(repo, errors)
    if not missing:
        return RepositoryNotFound(f"repository {repo.id}: no mirror to read it from (its mirrorlist is empty)",
                                  hint=mirror_hint(repo, join_url(repo.url, _REPOMD)))
    first = replace(repo, url=missing[0])
    url = join_url(missing[0], _REPOMD)
    hint = mirror_hint(first, url)
    found = sibling_arches(fetcher, url, basearch, arch_words(FACTS)) if basearch else None
    if found is not None and found[1]:
        return RepositoryNotFound(f"repository {repo.id}: no {basearch} tree at {found[0]} "
                                  f"(the mirror has: {', '.join(found[1])})",
                                  hint=f"choose one of them with --arch, or {hint}")
    tried = ", ".join(join_url(b, _REPOMD) for b in missing)
    return RepositoryNotFound(f"repository {repo.id}: no repodata/repomd.xml at {tried}",
                              hint=f"check the release (vault mirrors keep old ones), or {hint}")


def _check_repomd(repo: Repository, base: str, data: bytes, keyrings: Sequence[str],
                  fetcher: Fetcher, log: Log, signers: list[str]) -> str:
    """repomd.xml.asc verified where the repository has one (CentOS never signed its repomd;
    Fedora's and openSUSE's are); required when repo_gpgcheck=1. Returns how it went
    (rollback.VERIFIED, ABSENT or UNCHECKED)."""
    if not repo.verify:
        return UNCHECKED
    required = repo.option("repo_gpgcheck", "0") == "1"
    asc = fetcher.try_get_bytes(join_url(base, "repodata/repomd.xml.asc"))
    if asc is None:
        if required:
            raise VerificationError(f"repository {repo.id}: repo_gpgcheck=1 but {base} has no repomd.xml.asc",
                                    hint="use a mirror that carries the signature, or --no-verify")
        return ABSENT
    if not keyrings:
        log(f"{repo.id}: repomd.xml.asc not checked: the repository names no key (gpgkey=)")
        return UNCHECKED
    from bootstrap.trust import verify_detached

    verify_detached(data, asc, [Path(k) for k in keyrings], log=log, name=f"repomd.xml of {repo.id}",
                    signers=signers)
    log(f"{repo.id}: repomd.xml signature verified")
    return VERIFIED


def fetch_entry(state: RepoState, entry: RepoFile, fetcher: Fetcher) -> bytes:
    """A file repomd.xml lists, checked against its digest and size: from the mirror that
    served repomd.xml, else from the repository's other mirrors, in order."""
    checksums = (entry.checksum,) if entry.checksum else ()
    url = entry.url(state.url)
    if not checksums:  # nothing tells another mirror's copy is the same file: this one only
        return fetcher.get_bytes(url, checksums, entry.size)
    alternates = tuple(dict.fromkeys(u for u in (entry.url(m) for m in state.mirrors) if u != url))
    item = FetchItem(url, checksums, entry.size, f"{entry.type} of {state.repo.id}", alternates)
    return fetcher.get_file(item).read_bytes()


def load_packages(state: RepoState, fetcher: Fetcher, log: Log) -> list[Package]:
    """The repository's packages: primary.xml (any compression), else primary.sqlite."""
    entry = state.repomd.best("primary", "primary_db")
    if entry is None:
        raise RepositoryNotFound(f"repository {state.repo.id}: repomd.xml at {state.url} lists no primary metadata")
    if entry.type == "primary_db":
        data = fetch_entry(state, entry, fetcher)
        return parse_primary_db(decompress(data, entry.href, entry.limit), state.url, state.repo.id)
    cache = IndexCache.of(fetcher, log) if entry.checksum is not None else None
    key = f"{entry.checksum.algo}:{entry.checksum.hexdigest}" if entry.checksum is not None else ""
    # The repository's primary, not the file's URL: createrepo names the file by its digest,
    # and a new one must replace the entry of the old.
    origin = join_url(state.url, "repodata/primary")
    found = cache.load(_KIND, key, origin) if cache is not None else None
    if found is None:
        data = fetch_entry(state, entry, fetcher)
        try:
            found = _scan(data, entry, cache, key, origin, f"primary metadata of {state.url}")
        except fastprimary.Irregular:
            return parse_primary(decompress_stream(data, entry.href, entry.limit), state.url, state.repo.id)
    return fastprimary.packages(found.take_meta(), found.text, state.url, state.repo.id)


# The parsed-index cache's name for what fastprimary records; a change to it changes the version.
_KIND = "yum-primary/1"


def _scan(data: bytes, entry: RepoFile, cache: IndexCache | None, key: str, origin: str, where: str) -> Entry:
    """Inflate primary.xml piece by piece through the fast pass into a new cache entry (or
    into memory, without a cache). Irregular: the caller reads it the slow way."""
    scanner = fastprimary.Scanner(where)
    with new_entry(cache, _KIND, key, origin) as out:
        try:
            for piece in compression.chunks(data, entry.href, entry.limit):
                out.add_text(scanner.feed(piece))
        except compression.TooLarge as exc:
            raise RepositoryIndexError(f"{entry.href} {exc}", hint="the metadata is corrupt or hostile") from None
        except ValueError as exc:
            raise RepositoryIndexError(f"{where} is corrupt: {exc}") from None
        rest, meta = scanner.finish()
        out.add_text(rest)
        out.finish(meta)
    return out.entry()


def _closure(universe: Sequence[Package], names: Collection[str]) -> list[Package]:
    """Every package a request could reach, following every alternative (over-approximation)."""
    by_name: dict[str, list[Package]] = {}
    for pkg in universe:
        by_name.setdefault(pkg.name, []).append(pkg)
        for prov in pkg.provides:
            by_name.setdefault(prov.name, []).append(pkg)
    seen: dict[int, Package] = {}
    todo = [n for n in names if not n.startswith("@")]
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        for pkg in by_name.get(name, ()):
            if id(pkg) not in seen:
                seen[id(pkg)] = pkg
                todo += [rel.name for dep in pkg.depends for rel in dep if not rel.is_file]
    return list(seen.values())


def complete_files(universe: Sequence[Package], names: Collection[str], repos: dict[str, RepoState],
                   fetcher: Fetcher, log: Log) -> list[Package]:
    """The universe with filelists' paths added where a reachable file dependency needs them."""
    have = {p for pkg in universe for p in pkg.files} | {
        r.name for pkg in universe for r in pkg.provides if r.is_file}
    # Requested paths (--include /usr/bin/foo, a spec's BuildRequires: /bin/login) count too:
    # primary's owners of them are followed like requested names, the others are looked up.
    files = {n for n in names if n.startswith("/")}
    providers = [pkg.name for pkg in universe if files and (files.intersection(pkg.files)
                                                            or any(r.name in files for r in pkg.provides))]
    seeds = [n for n in names if n not in files] + providers
    wanted = {rel.name for pkg in _closure(universe, seeds) for dep in pkg.depends for rel in dep
              if rel.is_file and rel.name not in have} | (files - have)
    if not wanted:
        return list(universe)
    log(f"filelists: {len(wanted)} file dependencies not in primary "
        f"({', '.join(sorted(wanted)[:3])}...): reading filelists")
    owners: dict[tuple[str, str], tuple[str, ...]] = {}
    for repo_id, state in repos.items():
        entry = state.repomd.best("filelists")
        if entry is None:
            continue
        found = parse_filelists(decompress_stream(fetch_entry(state, entry, fetcher), entry.href, entry.limit),
                                wanted)
        owners.update({(repo_id, pkgid): paths for pkgid, paths in found.items()})
    out = []
    for pkg in universe:
        extra = owners.get((pkg.repo, pkg.checksums[0].hexdigest)) if pkg.checksums else None
        out.append(pkg if not extra else _with_files(pkg, extra))
    return out


def _with_files(pkg: Package, paths: tuple[str, ...]) -> Package:
    return replace(pkg, files=tuple(dict.fromkeys(pkg.files + paths)))
