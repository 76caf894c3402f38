"""A yum tree without repodata/: yum 2.0's headers/header.info, else anaconda's hdlist.

Each candidate is asked for once, in this order, at the repository's baseurl and then its
other baseurls; the first a tree has is what it is read from, and the log says which:
1. `headers/header.info` (yum-arch): each line's `headers/NAME-EPOCH-VER-REL.ARCH.hdr`
   fetched in parallel (into the fetcher's cache), each header held to its line's NEVRA;
2. `<Vendor>/base/hdlist` for Vendor in RedHat, CentOS, Fedora: the concatenated headers
   anaconda read, the package at `<Vendor>/RPMS/FILENAME` with FILESIZE its size;
3. the `RPMS/` (or `<Vendor>/RPMS/`) directory listing, each package's header read by HTTP
   Range requests (listing.py).
Neither gives digests of the packages: they are checked by their signatures and against the
header they were resolved from (the adapter, through `fields` "header-sha256").
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bootstrap.adapters.yum.header import ARCH, NAME, Header
from bootstrap.adapters.yum.headers import (
    CDNUM,
    FILENAME,
    FILESIZE,
    MATCHER,
    hdr_blob,
    header_package,
    parse_blob,
    parse_header_info,
    split_hdlist,
)
from bootstrap.adapters.yum.listing import load_listing
from bootstrap.adapters.yum.repomd import join_url
from bootstrap.errors import FetchError, RepositoryIndexError
from bootstrap.types import Fetcher, FetchItem, IndexStamp, Log, Package, Repository

HEADER_INFO = "headers/header.info"
VENDORS = ("RedHat", "CentOS", "Fedora")
NOTICE = "notice: {what} carries no digests; packages are checked by their signatures"
_HINT = "the tree's metadata and packages disagree; use another mirror"
__all__ = ["CDNUM", "Legacy", "load_legacy"]


@dataclass(frozen=True)
class Legacy:
    """A tree read without repodata/: where, from what (`headers/` or `RedHat/base/hdlist`)."""

    url: str
    what: str
    packages: list[Package]
    stamp: IndexStamp


def load_legacy(repo: Repository, fetcher: Fetcher, log: Log) -> Legacy | None:
    """The first of the module docstring's metadata that one of the repository's baseurls
    has, read; None when none has any (the caller says repodata/ is missing)."""
    for base in (repo.url, *repo.alternates):
        try:
            found = _probe(repo, base, fetcher, log)
        except FetchError as exc:
            # This copy of the tree failed to answer a probe (unreachable, a server error): the
            # next copy may answer; with none left the repository counts as missing, as its
            # repodata/ did.
            log(f"{repo.id}: {base}: {exc.message}")
            continue
        if found is not None:
            return found
    return None


def _probe(repo: Repository, base: str, fetcher: Fetcher, log: Log) -> Legacy | None:
    """The first metadata of the module docstring that the tree at `base` has, or None."""
    info = fetcher.try_get_bytes(join_url(base, HEADER_INFO))
    if info is not None:
        return Legacy(base, "headers/", _from_headers(repo, base, info, fetcher), _stamp(base, HEADER_INFO, info))
    for vendor in VENDORS:
        path = f"{vendor}/base/hdlist"
        data = fetcher.try_get_bytes(join_url(base, path))
        if data is not None:
            files = fetcher.try_get_bytes(join_url(base, f"{path}2"))
            return Legacy(base, path, _from_hdlist(repo, base, vendor, data, files), _stamp(base, path, data))
    listed = load_listing(repo, base, fetcher, log)
    if listed is not None:
        where, page, packages = listed
        return Legacy(base, f"the {where} listing", packages, _stamp(base, where, page))
    return None


def _stamp(base: str, path: str, data: bytes) -> IndexStamp:
    return IndexStamp(join_url(base, path), hashlib.sha256(data).hexdigest(), "")


def _from_headers(repo: Repository, base: str, info: bytes, fetcher: Fetcher) -> list[Package]:
    """header.info's packages, each from its .hdr (fetched in parallel); RepositoryIndexError
    naming a header that is missing or describes another package than its line."""
    where = f"{HEADER_INFO} of {repo.id}"
    lines = parse_header_info(info.decode("utf-8", "surrogateescape"), where)
    items = [FetchItem(join_url(base, line.hdr), name=f"header of {line.name}") for line in lines]
    try:
        paths = fetcher.get_many(items)
    except FetchError as exc:
        raise RepositoryIndexError(f"repository {repo.id}: {HEADER_INFO} lists a package whose header "
                                   f"cannot be had: {exc.message}", hint=_HINT) from None
    packages = []
    for line, item, path in zip(lines, items, paths, strict=True):
        blob = hdr_blob(path.read_bytes(), item.url)
        header = parse_blob(blob, item.url)
        pkg = header_package(header, blob, join_url(base, line.path), repo.id, item.url)
        if (pkg.name, pkg.arch) != (line.name, line.arch) or pkg.version.split(":")[-1] != line.evr.split(":")[-1]:
            raise RepositoryIndexError(f"repository {repo.id}: {line.hdr} holds {pkg.name}-{pkg.version}.{pkg.arch}, "
                                       f"but {HEADER_INFO} says {line.name}-{line.evr}.{line.arch}", hint=_HINT)
        packages.append(pkg)
    return packages


def _from_hdlist(repo: Repository, base: str, vendor: str, data: bytes, files: bytes | None = None) -> list[Package]:
    """An hdlist's packages, at `<vendor>/RPMS/FILENAME` (anaconda's tag), FILESIZE their size;
    with `files` (hdlist2) each header completed by its hdlist2 header, as anaconda merged them
    (rpm.mergeHeaderListFromFD on MATCHER): tags the hdlist entry lacks (the file lists
    genhdlist moved out) are taken from the hdlist2 entry with the same MATCHER."""
    where = f"{vendor}/base/hdlist of {repo.id}"
    extra = _by_matcher(files, f"{vendor}/base/hdlist2 of {repo.id}") if files is not None else {}
    packages = []
    for blob in split_hdlist(data, where):
        header = parse_blob(blob, where)
        more = extra.get(header.string(MATCHER))
        if more is not None:
            header = Header({**more.tags, **header.tags})
        filename = _filename(header, where)
        sizes = header.ints(FILESIZE)
        # No header digest: anaconda's tags make an hdlist's header differ from the package's.
        packages.append(header_package(_without_anaconda(header), b"", join_url(base, f"{vendor}/RPMS/{filename}"),
                                       repo.id, where, sizes[0] if sizes else 0))
    return packages


def _by_matcher(data: bytes, where: str) -> dict[str, Header]:
    """hdlist2's headers by their MATCHER value (those without one cannot be paired: left out)."""
    found = {}
    for blob in split_hdlist(data, where):
        header = parse_blob(blob, where)
        key = header.string(MATCHER)
        if key:
            found[key] = header
    return found


def _filename(header: Header, where: str) -> str:
    name = header.string(FILENAME) or f"{header.string(NAME)}.{header.string(ARCH)}.rpm"
    if "/" in name or name in ("", ".", ".."):
        raise RepositoryIndexError(f"{where}: refusing package file name {name[:80]!r}", hint=_HINT)
    return name


def _without_anaconda(header: Header) -> Header:
    return Header({t: v for t, v in header.tags.items() if t < FILENAME})

