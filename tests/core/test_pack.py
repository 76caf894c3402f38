"""The packer: tar shape (golden listing), reproducibility, overrides, atomic outputs, stdout,
directory and OCI outputs. Regenerate the golden listing with tests/golden/regenerate.sh."""
from __future__ import annotations

import errno
import gzip
import io
import itertools
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bootstrap.pack as pack
from bootstrap.errors import PackError, UsageError
from bootstrap.pack import ImageConfig, compress, write_output
from bootstrap.pack.compress import choose, open_sink
from bootstrap.types import FileEntry
from bootstrap.unpack import Unpacker
from tests.core.unpack_helpers import need, run, tar

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
EPOCH = 1700000000
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, mknod, setcap)")


def _written(root: Path, output: str, **kw: Any) -> Path:
    """write_output to a path (never standard output here): the path written."""
    out = write_output(root, output, **kw)
    assert out is not None
    return out


def make_tree(base: Path) -> Path:
    """A small root with every entry type the packer must carry."""
    root = base / "root"
    for d in ("usr/bin", "etc", "run", "dev", "tmp", "var/lib/" + "long-directory-name" * 6):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(root / "tmp", 0o1777)
    (root / "bin").symlink_to("usr/bin")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "usr/bin/su").write_text("su binary\n")
    os.link(root / "usr/bin/su", root / "usr/bin/su-again")
    (root / "usr/bin/ping").write_text("ping binary\n")
    (root / "var/lib" / ("long-directory-name" * 6) / "state").write_text("s\n")
    os.mkfifo(root / "run/initctl", 0o600)
    if os.geteuid() == 0:
        os.chown(root / "etc/shadow", 0, 42)
        os.chown(root / "usr/bin/ping", 1000, 1000)
        os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        run("setcap", "cap_net_raw+ep", root / "usr/bin/ping")
    os.chmod(root / "etc/shadow", 0o640)
    os.chmod(root / "usr/bin/su", 0o4755)
    return root


def listing(tarball: Path) -> str:
    return run("tar", "--numeric-owner", "-tvvf", tarball, env={"TZ": "UTC"}).decode()


@ROOT_ONLY
def test_golden_listing(tmp_path: Path) -> None:
    need("setcap")
    out = _written(make_tree(tmp_path), str(tmp_path / "rootfs.tar"), source_date_epoch=EPOCH)
    assert out is not None
    text = listing(out)
    golden = GOLDEN / "tar_listing.txt"
    if os.environ.get("REGENERATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), "tar listing changed; tests/golden/regenerate.sh if meant"


def test_entries_sorted_numeric_pax(tmp_path: Path) -> None:
    out = _written(make_tree(tmp_path), str(tmp_path / "r.tar"), source_date_epoch=EPOCH)
    names = run("tar", "-tf", out).decode().splitlines()
    assert names[0] == "./" and all(n.startswith("./") for n in names)
    assert [n.encode() for n in names] == sorted(n.rstrip("/").encode() + (b"/" if n.endswith("/") else b"")
                                                 for n in names)
    raw = out.read_bytes()
    assert raw[257:263] == b"ustar\x00"  # POSIX (pax/ustar) headers, not GNU
    assert raw[265:265 + 32].strip(b"\x00") == b""  # no user name in the root entry
    assert "hrwsr-xr-x" in listing(out) and "link to ./usr/bin/su\n" in listing(out)


@pytest.mark.parametrize("name", ["r.tar", "r.tar.gz", "r.tar.xz", "r.tar.zst", "r.tar.bz2"])
def test_byte_identical(tmp_path: Path, name: str) -> None:
    root = make_tree(tmp_path)
    first = _written(root, str(tmp_path / ("1-" + name)), source_date_epoch=EPOCH)
    for path in (root / "etc/passwd", root / "usr/bin", root):
        os.utime(path, None, follow_symlinks=False)  # newer than the epoch: clamped anyway
    second = _written(root, str(tmp_path / ("2-" + name)), source_date_epoch=EPOCH)
    assert first is not None and second is not None
    assert first.read_bytes() == second.read_bytes()
    if name.endswith(".gz"):
        header = first.read_bytes()[:10]
        assert header[3] & 0x08 == 0 and header[4:8] == b"\x00\x00\x00\x00"  # no name, mtime 0
    assert run("tar", "-tf", first).decode().splitlines()[0] == "./"


def test_mtime_clamped(tmp_path: Path) -> None:
    out = _written(make_tree(tmp_path), str(tmp_path / "r.tar"), source_date_epoch=EPOCH)
    assert "2023-11-14 22:13 ./etc/passwd\n" in listing(out)


def test_overrides_from_unprivileged_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """extract mode as non-root: the disk has our owner, the manifest the package's; the tar
    must say the manifest's, also for a path reached through the merged-/usr link."""
    stage = tmp_path / "stage"
    (stage / "bin").mkdir(parents=True)
    (stage / "bin" / "passwd").write_text("p\n")
    os.chmod(stage / "bin" / "passwd", 0o4755)
    archive = tar(tmp_path / "p.tar", stage, "./bin", "./bin/passwd",
                  extra=("--owner=0", "--group=42", "--no-recursion"))
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "usr" / "bin" / "made-by-tool").write_text("x\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    manifest = Unpacker(root).extract(archive, "passwd")
    monkeypatch.undo()
    if os.geteuid() == 0:  # look like an unprivileged build on disk
        for path in (root / "usr/bin/passwd", root / "usr/bin/made-by-tool"):
            os.chown(path, 1000, 1000)
    overrides = {e.path: e for e in manifest}
    (root / "dev").mkdir()  # a device node the unprivileged build could not make
    overrides["dev/null"] = FileEntry("dev/null", "char", 0o666, 0, 0, EPOCH, devmajor=1, devminor=3)
    out = _written(root, str(tmp_path / "o.tar"), overrides=overrides, source_date_epoch=EPOCH)
    text = listing(out)
    assert "crw-rw-rw- 0/0             1,3 2023-11-14 22:13 ./dev/null\n" in text
    assert "-rwsr-xr-x 0/42" in text and "./usr/bin/passwd\n" in text
    assert "0/0               2 2023-11-14 22:13 ./usr/bin/made-by-tool" in text


@ROOT_ONLY
def test_xattrs_reach_the_tar(tmp_path: Path) -> None:
    need("setcap", "getcap")
    out = _written(make_tree(tmp_path), str(tmp_path / "x.tar"), source_date_epoch=EPOCH)
    back = tmp_path / "back"
    back.mkdir()
    manifest = Unpacker(back).extract(out, "image")
    ping = next(e for e in manifest if e.path == "usr/bin/ping")
    assert [k for k, _ in ping.xattrs] == ["security.capability"] and (ping.uid, ping.gid) == (1000, 1000)
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    done = subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xpf", out, "-C", gnu],
                          capture_output=True, text=True, check=True)
    assert "cap_net_raw" in run("getcap", gnu / "usr/bin/ping").decode()
    assert "unknown extended header" not in done.stderr  # SCHILY.xattr only, as GNU tar reads
    # Device nodes are recorded, never made in a build root (issue 9): the manifest keeps it.
    dev = next(e for e in manifest if e.path == "dev/null")
    assert (dev.type, dev.devmajor, dev.devminor) == ("char", 1, 3) and not os.path.lexists(back / "dev/null")


def _only_root_left(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


@pytest.mark.parametrize("name", ["r.tar", "r.tar.gz", "r.tar.zst"])
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                error: BaseException) -> None:
    root = make_tree(tmp_path)
    real = pack.write_tar

    def failing(root: Path, sink, **kw) -> None:
        def broken(data: bytes) -> None:
            sink(data)
            raise error

        real(root, broken, **kw)

    monkeypatch.setattr(pack, "write_tar", failing)
    with pytest.raises(type(error)):
        write_output(root, str(tmp_path / name))
    _only_root_left(tmp_path)


def test_no_space_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path)

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pack, "write_tar", full)
    with pytest.raises(PackError, match=r"^no space left writing .*r\.tar\.gz$") as info:
        write_output(root, str(tmp_path / "r.tar.gz"))
    assert info.value.hint
    _only_root_left(tmp_path)


def test_stdout(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    code = ("import sys; from pathlib import Path; from bootstrap.pack import write_output; "
            f"write_output(Path({str(root)!r}), '-', source_date_epoch={EPOCH})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    file_out = _written(root, str(tmp_path / "f.tar"), source_date_epoch=EPOCH)
    assert done.stdout == file_out.read_bytes()


def test_choose_compression() -> None:
    cases = {"a.tar": "none", "a.tar.gz": "gzip", "a.TGZ": "gzip", "a.tar.xz": "xz",
             "a.txz": "xz", "a.tar.zst": "zstd", "a.tzst": "zstd", "a.tar.bz2": "bzip2",
             "rootfs": "gzip", "-": "none"}
    assert {name: choose(name, "auto") for name in cases} == cases
    assert choose("a.tar", "zstd") == "zstd" and choose("-", "gzip") == "gzip"
    with pytest.raises(UsageError):
        choose("a.tar", "lz4")


@pytest.mark.parametrize("where", ["same", "other"])
def test_directory_output(tmp_path: Path, where: str) -> None:
    root = make_tree(tmp_path)
    if where == "other":
        if not os.access("/dev/shm", os.W_OK) or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("no second writable filesystem (/dev/shm) for the copy path")
        base = Path(os.environ.get("TMPDIR_SHM", "/dev/shm")) / f"pack-test-{os.getpid()}"
        base.mkdir()
    else:
        base = tmp_path
    try:
        out = _written(root, str(base / "tree") + "/", fmt="dir")
        assert out == base / "tree"
        assert (out / "bin").is_symlink() and stat.S_IMODE(os.stat(out / "usr/bin/su").st_mode) == 0o4755
        assert os.stat(out / "usr/bin/su").st_ino == os.stat(out / "usr/bin/su-again").st_ino
        assert stat.S_IMODE(os.stat(out / "tmp").st_mode) == 0o1777
        assert sorted(p.name for p in base.iterdir()) == ["tree"]
        with pytest.raises(PackError, match="not an empty directory"):
            write_output(make_tree(tmp_path / "again"), str(out), fmt="dir")
    finally:
        if where == "other":
            subprocess.run(["rm", "-rf", "--one-file-system", str(base)], check=False)


def test_oci_layout(tmp_path: Path) -> None:
    need("umoci", "skopeo")
    root = make_tree(tmp_path)
    config = ImageConfig(arch="amd64", cmd=("/bin/sh", "-l"))
    out = _written(root, str(tmp_path / "image"), fmt="oci", config=config,
                       source_date_epoch=EPOCH)
    assert out == tmp_path / "image"
    info = json.loads(run("skopeo", "inspect", f"oci:{out}:latest"))
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Created"].startswith("2023-11-14T22:13:20")
    stat_text = run("umoci", "stat", "--image", f"{out}:latest").decode()
    assert "rootfs-bootstrap" in stat_text
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{out}:latest", bundle)
    assert (bundle / "rootfs/etc/passwd").read_text().startswith("root:")
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/sh", "-l"]
    again = _written(root, str(tmp_path / "image2"), fmt="oci", config=config,
                         source_date_epoch=EPOCH)
    assert (out / "index.json").read_bytes() == (again / "index.json").read_bytes()


def test_oci_archive(tmp_path: Path) -> None:
    need("skopeo")
    out = _written(make_tree(tmp_path), str(tmp_path / "image.tar"), fmt="oci",
                       config=ImageConfig(arch="arm", variant="v7"), source_date_epoch=EPOCH)
    info = json.loads(run("skopeo", "inspect", "--config", f"oci-archive:{out}"))
    assert (info["architecture"], info["variant"], info["config"]["Cmd"]) == ("arm", "v7", ["/bin/sh"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar", "root"]


@pytest.mark.parametrize("method", ["gzip", "xz", "zstd", "bzip2"])
def test_compressed_bytes_are_the_streams_alone(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One in-process implementation per method (pack.compress): the bytes depend neither on
    how the tar stream is cut into writes (ISA-L's would) nor on PATH (pigz, xz), and no
    process is started."""
    data = random.Random(7).randbytes(1 << 21) + bytes(range(256)) * 9000

    def packed(sizes: tuple[int, ...]) -> bytes:
        out = io.BytesIO()
        sink = open_sink(method, out)
        at = 0
        for turn in itertools.count():
            if at >= len(data):
                break
            size = sizes[turn % len(sizes)]
            sink.write(data[at:at + size])
            at += size
        sink.close()
        return out.getvalue()

    first = packed((1 << 20,))

    def no_process(*_args: object, **_kw: object) -> None:
        raise AssertionError("the packer started a process")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setenv("PATH", "")
    assert all(packed(sizes) == first for sizes in ((1,) * 7 + (99_999,), (10_240,), (3 << 20,)))
    if method == "gzip":
        # No FNAME flag, MTIME 0, OS 255 ("unknown"): the header says nothing of the host.
        assert first[:4] == b"\x1f\x8b\x08\x00" and first[4:8] == b"\0\0\0\0" and first[9] == 255
        assert gzip.decompress(first) == data
        # Level 3 picks its matcher by CPU: AVX2, AVX-512 and others gave three streams.
        assert compress.GZIP_LEVEL <= 2


def test_override_of_another_kind_is_the_disks(tmp_path: Path) -> None:
    """A package's `bin/` directory that is the merged-/usr link on disk: the unprivileged
    pack writes root's 0777 link, as a root build does, not the directory's owner and mode."""
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    overrides = {"bin": FileEntry("bin", "dir", 0o755, 0, 42, EPOCH),
                 "usr/bin": FileEntry("usr/bin", "dir", 0o755, 0, 42, EPOCH)}
    text = listing(_written(root, str(tmp_path / "o.tar"), overrides=overrides, source_date_epoch=EPOCH))
    assert "lrwxrwxrwx 0/0               0 2023-11-14 22:13 ./bin -> usr/bin\n" in text
    assert "drwxr-xr-x 0/42              0 2023-11-14 22:13 ./usr/bin/\n" in text
