"""Reading an .rpm's payload (adapters/yum/payload.py): cpio entries, hard links, and the refusals."""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from bootstrap.adapters.yum.payload import extract_rpm
from bootstrap.errors import UnsafePathError
from bootstrap.unpack import Unpacker
from tests.core.unpack_helpers import cpio, need, stage_tree, tiny_rpm


def test_extract_rpm(tmp_path: Path, root: Path) -> None:
    need("rpmbuild")
    rpm = tiny_rpm(tmp_path)
    manifest = extract_rpm(Unpacker(root), rpm, "tiny")
    paths = {e.path: e for e in manifest}
    assert paths["usr/bin/tiny"].mode == 0o4755 and paths["usr/bin/tiny"].uid == 0
    assert paths["usr/bin/tiny-link"].linkname == "tiny"
    assert paths["etc/tiny"].type == "dir"
    assert (root / "etc/tiny/tiny.conf").read_text() == "conf\n"
    assert stat.S_IMODE(os.stat(root / "usr/bin/tiny").st_mode) == 0o4755


def test_cpio_hardlinks_carry_data_on_last(tmp_path: Path, root: Path) -> None:
    need("cpio")
    stage = stage_tree(tmp_path)
    os.link(stage / "usr/bin/prog", stage / "usr/bin/prog2")
    archive = cpio(tmp_path / "p.cpio", stage, "./usr", "./usr/bin", "./usr/bin/prog",
                   "./usr/bin/prog2")
    manifest = extract_rpm(Unpacker(root), archive, "linked")
    files = {e.path: e for e in manifest}
    want = hashlib.sha256(b"program\n").hexdigest()
    assert want in (files["usr/bin/prog"].digest, files["usr/bin/prog2"].digest)
    assert (root / "usr/bin/prog").read_text() == (root / "usr/bin/prog2").read_text() == "program\n"
    assert os.stat(root / "usr/bin/prog").st_ino == os.stat(root / "usr/bin/prog2").st_ino


@pytest.mark.parametrize("name", ["../escaped", "ABS"])
def test_cpio_escapes_refused(tmp_path: Path, root: Path, name: str) -> None:
    need("cpio")
    work = tmp_path / "w" / "cwd"
    work.mkdir(parents=True)
    (tmp_path / "w" / "escaped").write_text("x\n")
    target = str(tmp_path / "w" / "escaped") if name == "ABS" else name
    archive = cpio(tmp_path / "evil.cpio", work, target)
    os.unlink(tmp_path / "w" / "escaped")
    with pytest.raises(UnsafePathError, match="outside the root"):
        extract_rpm(Unpacker(root), archive, "evil")
    assert not (tmp_path / "w" / "escaped").exists()


def test_cpio_symlink_then_file_refused(tmp_path: Path, root: Path) -> None:
    """A symlink out of the root, then (appended with cpio -A) a file through it."""
    need("cpio")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    (two / "link").mkdir(parents=True)
    (one / "link").symlink_to(tmp_path / "outside")
    (two / "link" / "evil").write_text("owned\n")
    archive = tmp_path / "evil.cpio"
    for cwd, extra in ((one, []), (two, ["-A"])):
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", *extra, "-F", str(archive)],
                       cwd=cwd, input=b"link\n" if cwd == one else b"link/evil\n", check=True)
    with pytest.raises(UnsafePathError, match="symlink 'link' that the same package placed"):
        extract_rpm(Unpacker(root), archive, "evil")
    assert not (tmp_path / "outside").exists()
