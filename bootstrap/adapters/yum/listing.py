"""A yum tree with no metadata at all: its `RPMS/` directory listing (an index page as Apache
and nginx write it), each package's header read with HTTP Range requests, as rinse's users
did by hand.

    rpm_links(html) -> [FILE.rpm]                pure: the binary packages a listing links to
    header_extent(prefix) -> int                 pure: the bytes up to the end of the main header
    load_listing(repo, base, fetcher, log) -> (where, page, [Package]) | None

Each package costs one ranged GET of its first 64 KiB (the lead, 96 bytes, the signature header
padded to 8, the main header), and one more of the exact extent when its header is longer.
The packages are later fetched whole and held to the header read here (header_identity), and
to their signatures as any other package.
"""
from __future__ import annotations

import io
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable
from urllib.parse import unquote

from bootstrap.adapters.yum.header import LEAD_SIZE, read_rpm
from bootstrap.adapters.yum.headers import header_package
from bootstrap.adapters.yum.repomd import join_url
from bootstrap.errors import RepositoryIndexError, UnpackError
from bootstrap.types import Fetcher, Log, Package, Repository

DIRECTORIES = ("RPMS/", "RedHat/RPMS/", "CentOS/RPMS/", "Fedora/RPMS/")
_HREF = re.compile(rb'href="([^"?#]+\.rpm)"', re.IGNORECASE)
_FIRST = 1 << 16
_MAX = 64 << 20  # a header larger than this is not a package's
_JOBS = 8  # concurrent ranged GETs; each is small


@runtime_checkable
class HeadFetcher(Protocol):
    """A fetcher that reads the start of a file (bootstrap.fetch.Fetcher.get_head)."""

    def get_head(self, url: str, size: int) -> bytes | None: ...


def rpm_links(html: bytes) -> list[str]:
    """The file names of the binary .rpm files a listing links to, in its order, once each:
    relative links without a directory part (sorting links and parents are not packages)."""
    names = []
    for raw in _HREF.findall(html):
        name = unquote(raw.decode("utf-8", "replace")).removeprefix("./")
        if "/" in name or name.startswith(".") or name.endswith((".src.rpm", ".nosrc.rpm")):
            continue
        names.append(name)
    return list(dict.fromkeys(names))


def header_extent(prefix: bytes) -> int:
    """How many bytes from the start of an .rpm hold its lead, signature and main header: as
    far as `prefix` tells (at least one intro more than it holds, when it ends before one)."""
    sig = LEAD_SIZE
    if len(prefix) < sig + 16:
        return sig + 16
    count, size = struct.unpack_from(">II", prefix, sig + 8)
    end = sig + 16 + 16 * count + size
    main = end + (8 - end % 8) % 8
    if len(prefix) < main + 16:
        return main + 16
    count, size = struct.unpack_from(">II", prefix, main + 8)
    return main + 16 + 16 * count + size


def load_listing(repo: Repository, base: str, fetcher: Fetcher,
                 log: Log) -> tuple[str, bytes, list[Package]] | None:
    """(the listed directory, its page, its packages) of the first of DIRECTORIES that `base` lists
    .rpm files in; None when none does or the fetcher cannot read a file's start."""
    if not isinstance(fetcher, HeadFetcher):
        return None
    for where in DIRECTORIES:
        html = fetcher.try_get_bytes(join_url(base, where))
        names = rpm_links(html) if html else []
        if html is None or not names:
            continue
        log(f"{repo.id}: {base}{where}: {len(names)} packages in the listing; reading their headers")
        urls = [join_url(base, where + name) for name in names]
        with ThreadPoolExecutor(max_workers=_JOBS) as pool:
            packages = list(pool.map(lambda url: _package(repo, url, fetcher), urls))
        return where, html, packages
    return None


def _package(repo: Repository, url: str, fetcher: HeadFetcher) -> Package:
    """The Package whose header starts the .rpm at `url`, read by ranged GETs."""
    size = _FIRST
    for _ in range(3):
        prefix = fetcher.get_head(url, size)
        if prefix is None:
            raise RepositoryIndexError(f"repository {repo.id}: {url} is listed but not there",
                                       hint="the mirror changed while it was read; try again")
        try:
            rpm = read_rpm(io.BytesIO(prefix))
        except UnpackError as exc:
            need = header_extent(prefix) if len(prefix) == size else 0
            if need <= len(prefix) or need > _MAX:
                raise RepositoryIndexError(f"repository {repo.id}: {url}: {exc.message}",
                                           hint="the listed file is not an rpm; use another mirror") from None
            size = need
            continue
        return header_package(rpm.header, rpm.header_bytes, url, repo.id, url)
    raise RepositoryIndexError(f"repository {repo.id}: {url}: its header does not end where it says",
                               hint="the listed file is corrupt; use another mirror")
