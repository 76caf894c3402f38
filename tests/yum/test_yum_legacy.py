"""Trees from before repodata/ (legacyrepo.py): `rootfs-bootstrap centos3.9 --include bash`
from yum 2.0's headers/ and from anaconda's hdlist gives the package set and tar listing the
repodata tree gives, says which metadata it used and that it carries no digests; a header.info
naming a missing package, or a .hdr another build of the package, fails naming it; a tree of
bare RPMS/ is read from its HTML listing by Range requests. The parsers of headers.py and
listing.py against the same files: python3-rpm's .hdr (gzip and raw), the hdlist, the .rpm."""
from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.adapters.yum.header import read_rpm
from bootstrap.adapters.yum.headers import (
    hdr_blob,
    header_identity,
    header_package,
    parse_blob,
    parse_header_info,
    split_hdlist,
)
from bootstrap.adapters.yum.listing import header_extent, rpm_links
from bootstrap.errors import RepositoryIndexError
from tests.yum.legacyrepo import Legacy, legacy_mirror
from tests.yum.yumrepo import _cli

OS = "3.9/os/i386"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Legacy]:
    yield from legacy_mirror(tmp_path_factory.mktemp("legacy"))


def _args(legacy: Legacy, kind: str, *more: str) -> list[str]:
    return ["centos3.9", "--mirror", legacy.url(kind), "--keyring", str(legacy.key), "--variant", "custom",
            "--include", "bash", *more]


def _listing(path: Path) -> list[tuple[str, int, int, str]]:
    with tarfile.open(path) as tar:
        return sorted((m.name, m.mode, m.size, m.linkname) for m in tar.getmembers())


def _resolved(legacy: Legacy, kind: str, cache: Path) -> list[tuple[str, str, str]]:
    done = _cli("resolve", *_args(legacy, kind, "--json"), cache=cache)
    assert done.returncode == 0, done.stderr
    return [(p["name"], p["version"], p["arch"]) for p in json.loads(done.stdout)["packages"]]


# hdlist2: the hdlist without file names and anaconda's hdlist2 holding them; bash's
# `Requires: /etc/group` is met only through setup's file list, merged in by MATCHER.
@pytest.mark.parametrize("kind", ["headers", "hdlist", "hdlist2", "listing"])
def test_build_matches_repodata(legacy: Legacy, kind: str, tmp_path: Path) -> None:
    reference = _resolved(legacy, "repodata", tmp_path / "ref-cache")
    assert {name for name, _, _ in reference} == {"bash", "setup"}
    assert _resolved(legacy, kind, tmp_path / "cache") == reference
    outs = {}
    for which in ("repodata", kind):
        outs[which] = tmp_path / f"{which}.tar"
        done = _cli(*_args(legacy, which, "--mode", "extract", "-v", "-o", str(outs[which])),
                    cache=tmp_path / f"{which}-cache")
        assert done.returncode == 0, done.stderr
    what = {"headers": "headers/", "hdlist": "RedHat/base/hdlist", "hdlist2": "RedHat/base/hdlist",
            "listing": "the RPMS/ listing"}[kind]
    assert f"packages from {what} (no repodata/)" in done.stderr
    assert done.stderr.count(f"notice: {what} carries no digests; packages are checked by their signatures") == 1
    assert _listing(outs[kind]) == _listing(outs["repodata"])
    if kind == "listing":  # each header was read by a Range request, not the whole package
        assert {f"/listing/{OS}/RPMS/setup-2.5-1.noarch.rpm", f"/listing/{OS}/RPMS/bash-2.05b-1.i386.rpm"} \
            <= set(legacy.ranged)
    assert ("bin/bash", 0o755) in {(n.removeprefix("./"), mode) for n, mode, _, _ in _listing(outs[kind])}


def test_missing_package_is_named(legacy: Legacy, tmp_path: Path) -> None:
    done = _cli(*_args(legacy, "missing", "--mode", "extract", "-o", str(tmp_path / "o.tar")), cache=tmp_path / "c")
    assert done.returncode != 0
    assert "bash-2.05b-1.i386.rpm" in done.stderr, done.stderr
    assert not (tmp_path / "o.tar").exists()


def test_header_that_is_not_the_package_is_named(legacy: Legacy, tmp_path: Path) -> None:
    done = _cli(*_args(legacy, "badhdr", "--mode", "extract", "-o", str(tmp_path / "o.tar")), cache=tmp_path / "c")
    assert done.returncode != 0
    assert "bash-2.05b-1.i386.rpm: its header is not the one the repository's headers/ gives for " \
           "bash-1:2.05b-1.i386" in done.stderr, done.stderr


def test_parsers_read_what_python3_rpm_wrote(legacy: Legacy) -> None:
    """header.info's lines, the gzip (setup) and raw (bash) .hdr python3-rpm wrote, and the
    hdlist: each is the package's own header, with every relation and the whole file list."""
    tree = legacy.top / "headers" / OS
    lines = parse_header_info((tree / "headers" / "header.info").read_text(), "header.info")
    assert [(x.epoch, x.name, x.hdr) for x in lines] == [
        ("0", "setup", "headers/setup-0-2.5-1.noarch.hdr"), ("1", "bash", "headers/bash-1-2.05b-1.i386.hdr")]
    gzipped = [(tree / line.hdr).read_bytes()[:2] == b"\x1f\x8b" for line in lines]
    assert gzipped == [True, False]
    hdlist = split_hdlist((legacy.top / "hdlist" / OS / "RedHat/base/hdlist").read_bytes(), "hdlist")
    for line, listed in zip(lines, hdlist, strict=True):
        with open(tree / line.path, "rb") as fh:
            own = read_rpm(fh).header
        blob = hdr_blob((tree / line.hdr).read_bytes(), line.hdr)
        header = parse_blob(blob, line.hdr)
        assert header_identity(header) == header_identity(own) == header_identity(parse_blob(listed, "hdlist"))
        pkg = header_package(header, blob, "http://x/" + line.path, "base", line.hdr)
        assert (pkg.name, pkg.version) == (line.name, line.evr if line.epoch != "0" else f"{line.version}-1")
        if pkg.name == "bash":
            assert {str(r.name) for d in pkg.depends for r in d} >= {"setup", "/etc/group"}
            assert set(pkg.files) == {"/bin/bash", "/bin/sh"}


def test_header_info_that_leaves_the_tree_is_refused() -> None:
    with pytest.raises(RepositoryIndexError, match="line 2"):
        parse_header_info("0:a-1-1.noarch=RPMS/a-1-1.noarch.rpm\n0:b-1-1.noarch=../../b.rpm\n", "header.info")


def test_listing_links_and_header_extent(legacy: Legacy) -> None:
    """The .rpm links of an Apache- or nginx-style page, and where an .rpm's header ends."""
    page = (b'<a href="?C=N;O=D">Name</a> <a href="../">Parent</a> <a href="a-1-1.i386.rpm">a</a> '
            b'<a href="b%2B-1-1.noarch.rpm">b+</a> <a href="a-1-1.src.rpm">s</a> <a href="x/y.rpm">y</a>')
    assert rpm_links(page) == ["a-1-1.i386.rpm", "b+-1-1.noarch.rpm"]
    rpm = legacy.top / "listing" / OS / "RPMS" / "bash-2.05b-1.i386.rpm"
    with open(rpm, "rb") as fh:
        own = read_rpm(fh)
    data = rpm.read_bytes()
    assert header_extent(data[:100]) == 112
    assert header_extent(data) == own.payload_offset


def test_get_head_reads_a_prefix(legacy: Legacy, tmp_path: Path) -> None:
    """Fetcher.get_head: a Range request (recorded by the server), a file:// read, None for
    a file that is not there."""
    from bootstrap.fetch import Fetcher

    rpm = legacy.top / "listing" / OS / "RPMS" / "setup-2.5-1.noarch.rpm"
    fetcher = Fetcher(tmp_path / "cache")
    url = f"{legacy.url('listing')}/{OS}/RPMS/{rpm.name}"
    assert fetcher.get_head(url, 100) == rpm.read_bytes()[:100]
    assert fetcher.get_head(rpm.as_uri(), 100) == rpm.read_bytes()[:100]
    assert fetcher.get_head(url + ".nothere", 100) is None
    assert fetcher.get_head(rpm.as_uri() + ".nothere", 100) is None
