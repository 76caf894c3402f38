"""Reading a .deb (adapters/apt/payload.py): streamed and preloaded, the same entries and the same refusals."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bootstrap.adapters.apt.payload import extract_deb, extract_loaded_deb, load_deb
from bootstrap.errors import UnpackError, UnsafePathError
from bootstrap.unpack import Unpacker
from tests.core.unpack_helpers import (
    ESCAPES,
    assert_nothing_outside,
    deb_from_data,
    evil_tars,
    need,
    run,
    tiny_deb,
)


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_extract_deb(tmp_path: Path, root: Path, compression: str) -> None:
    need("dpkg-deb")
    deb = tiny_deb(tmp_path / "tiny.deb", tmp_path, compression)
    control, manifest = extract_deb(Unpacker(root), deb, "tiny")
    assert set(control) == {"control", "postinst"} and control["control"].startswith(b"Package: tiny")
    paths = {e.path: e for e in manifest}
    assert paths["."].type == "dir"
    su = paths["usr/bin/su"]
    assert su.mode == 0o4755 and (su.uid, su.gid, su.uname) == (0, 0, "root")
    assert paths["usr/bin/su2"].type == "hardlink" and paths["usr/bin/su2"].linkname == "usr/bin/su"
    assert os.stat(root / "usr/bin/su").st_ino == os.stat(root / "usr/bin/su2").st_ino
    assert stat.S_IMODE(os.stat(root / "usr/bin/su").st_mode) == 0o4755
    assert paths["usr/bin/sh"].linkname == "dash"


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_loaded_deb_same_as_streamed(tmp_path: Path, compression: str) -> None:
    """load_deb (decompressed in memory, for the threaded preloader) gives what extract_deb does."""
    need("dpkg-deb")
    deb = tiny_deb(tmp_path / "tiny.deb", tmp_path, compression)
    streamed, loaded = tmp_path / "a", tmp_path / "b"
    streamed.mkdir()
    loaded.mkdir()
    want = extract_deb(Unpacker(streamed), deb, "tiny")
    got = extract_loaded_deb(Unpacker(loaded), load_deb(deb, "tiny"), "tiny")
    assert got == want
    assert sorted(p.name for p in loaded.rglob("*")) == sorted(p.name for p in streamed.rglob("*"))
    corrupt = tmp_path / "corrupt.deb"
    data = bytearray(deb.read_bytes())
    data[-40] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    if compression != "none":
        with pytest.raises(UnpackError, match="package tiny: cannot read"):
            load_deb(corrupt, "tiny")


def test_deb_escapes_refused_when_loaded(tmp_path: Path, root: Path) -> None:
    need("ar")
    for case in ESCAPES:
        deb = deb_from_data(tmp_path / f"{case}.deb", evil_tars(tmp_path / "w" / case)[case], tmp_path)
        with pytest.raises(UnsafePathError, match="package evil: entry"):
            extract_loaded_deb(Unpacker(root), load_deb(deb, "evil"), "evil")
        assert_nothing_outside(tmp_path / "w" / case)


def test_deb_ignores_extra_members_and_needs_data(tmp_path: Path, root: Path) -> None:
    need("dpkg-deb", "ar")
    deb = tiny_deb(tmp_path / "tiny.deb", tmp_path)
    (tmp_path / "_gpgbuilder").write_text("signature\n")
    run("ar", "q", deb, "_gpgbuilder", cwd=tmp_path)
    assert extract_deb(Unpacker(root), deb, "tiny")[1]
    run("ar", "d", deb, "data.tar.xz")
    with pytest.raises(UnpackError, match=r"has no data\.tar member"):
        extract_deb(Unpacker(root), deb, "tiny")
    with pytest.raises(UnpackError, match=r"has no data\.tar member"):
        load_deb(deb, "tiny")


@pytest.mark.parametrize("case", ESCAPES)
def test_deb_escapes_refused(tmp_path: Path, root: Path, case: str) -> None:
    need("ar")
    archive = evil_tars(tmp_path / "w")[case]
    deb = deb_from_data(tmp_path / "evil.deb", archive, tmp_path)
    with pytest.raises(UnsafePathError, match="package evil: entry"):
        extract_deb(Unpacker(root), deb, "evil")
    assert_nothing_outside(tmp_path / "w")
