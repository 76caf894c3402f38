"""Outputs that are not regular files (/dev/null, /dev/full, a FIFO) are written in place,
never renamed over; a regular file output is still replaced atomically."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import bootstrap.pack as pack
from bootstrap.errors import PackError
from bootstrap.pack import write_output


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("box\n")
    (root / "big").write_bytes(os.urandom(3 << 20))  # more than one 1 MiB buffer
    return root


def test_dev_null_stays_a_device(tree: Path) -> None:
    before = os.stat("/dev/null")
    assert write_output(tree, "/dev/null") == Path("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_mode == before.st_mode


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_one_line_pack_error(tree: Path) -> None:
    with pytest.raises(PackError) as caught:
        write_output(tree, "/dev/full")
    message = str(caught.value)
    assert message == "no space left writing /dev/full"
    assert "\n" not in message
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_symlink_to_dev_null_is_followed(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.tar"
    link.symlink_to("/dev/null")
    write_output(tree, str(link))
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)


def test_fifo_gets_the_stream(tree: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.tar"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as pipe:
            got.append(pipe.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    write_output(tree, str(fifo))
    reader.join(30)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with tarfile.open(fileobj=io.BytesIO(got[0])) as tar:
        names = tar.getnames()
        assert "./etc/hostname" in names
        assert tar.extractfile("./big").read() == (tree / "big").read_bytes()  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_regular_file_still_atomic(tree: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.tar"
    out.write_bytes(b"old")
    inode = os.stat(out).st_ino
    write_output(tree, str(out))
    assert os.stat(out).st_ino != inode  # renamed into place, not rewritten
    with tarfile.open(out) as tar:
        assert "./etc/hostname" in tar.getnames()

    out.write_bytes(b"old")

    def broken(root: Path, sink: Callable[[bytes], None], **kw: object) -> None:
        sink(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pack, "write_tar", broken)
    with pytest.raises(PackError, match="no space left"):
        write_output(tree, str(out))
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar", "root"]
