"""The unpacker: formats, manifest, ownership and modes, and that nothing escapes the root."""
from __future__ import annotations

import gzip
import hashlib
import os
import stat
from pathlib import Path

import pytest

from bootstrap.errors import UnpackError, UnsafePathError
from bootstrap.unpack import IdMap, Unpacker, read_archive_members
from tests.core.unpack_helpers import ESCAPES, assert_nothing_outside, evil_tars, need, run, stage_tree, tar

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, setcap)")


@pytest.mark.parametrize("flag,suffix", [("", ".tar"), ("-z", ".tar.gz"), ("-J", ".tar.xz"),
                                         ("--zstd", ".tar.zst"), ("-j", ".tar.bz2")])
def test_extract_compressions(tmp_path: Path, root: Path, flag: str, suffix: str) -> None:
    stage = stage_tree(tmp_path)
    archive = tar(tmp_path / f"a{suffix}", stage, "./usr", extra=(flag,) if flag else ())
    manifest = Unpacker(root).extract(archive, "pkg")
    assert [(e.path, e.type) for e in manifest] == [
        ("usr", "dir"), ("usr/bin", "dir"), ("usr/bin/alias", "symlink"), ("usr/bin/prog", "file")]
    prog = manifest[3]
    assert prog.digest == hashlib.sha256(b"program\n").hexdigest() and prog.size == 8
    assert prog.package == "pkg" and prog.mtime == 1600000000
    assert (root / "usr/bin/prog").read_text() == "program\n"
    assert os.readlink(root / "usr/bin/alias") == "prog" and manifest[2].linkname == "prog"
    assert os.stat(root / "usr/bin/prog").st_mtime == 1600000000


def test_concatenated_gzip_streams_as_apk(tmp_path: Path, root: Path) -> None:
    """apk: signature, control and data tar segments, each cut before its end blocks and
    gzipped separately, then concatenated; one archive to libarchive."""
    stage = stage_tree(tmp_path)
    (stage / ".PKGINFO").write_text("pkgname = x\n")
    parts = []
    for name, members in (("ctl", [".PKGINFO"]), ("data", ["usr"])):
        raw = tar(tmp_path / f"{name}.tar", stage, *members, extra=("--record-size=512",))
        parts.append(gzip.compress(raw.read_bytes()[:-1024], mtime=0))  # abuild-tar --cut
    blob = b"".join(parts)
    manifest = Unpacker(root).extract(blob, "apk-pkg", skip=lambda p, kind: p.startswith("."))
    assert [e.path for e in manifest] == ["usr", "usr/bin", "usr/bin/alias", "usr/bin/prog"]
    assert not (root / ".PKGINFO").exists()
    assert read_archive_members(blob)[".PKGINFO"] == b"pkgname = x\n"


def test_corrupt_archive(tmp_path: Path, root: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(gzip.compress(b"x" * 600)[:40])
    with pytest.raises(UnpackError, match=r"package broken: cannot read bad\.tar\.gz"):
        Unpacker(root).extract(bad, "broken")


# --- safety: every entry point refuses every escape --------------------------------------


@pytest.mark.parametrize("case", ESCAPES)
def test_tar_escapes_refused(tmp_path: Path, root: Path, case: str) -> None:
    archive = evil_tars(tmp_path / "w")[case]
    with pytest.raises(UnsafePathError, match=r"package evil: entry '.*'") as info:
        Unpacker(root).extract(archive, "evil")
    assert "outside the root" in str(info.value)
    assert_nothing_outside(tmp_path / "w")


def test_tar_escape_message(tmp_path: Path, root: Path) -> None:
    archive = evil_tars(tmp_path / "w")["dotdot"]
    with pytest.raises(UnsafePathError) as info:
        Unpacker(root).extract(archive, "evil")
    assert str(info.value) == "package evil: entry '../../escaped' would be written outside the root"


# --- existing symlinks in the root ----------------------------------------------------------

def test_merged_usr_symlinks_are_followed_inside_root(tmp_path: Path, root: Path) -> None:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("/usr/bin")       # absolute: means root/usr/bin, not the host's
    (root / "lib").symlink_to("../../../../usr/lib")  # climbing: stops at the root
    stage = tmp_path / "stage"
    (stage / "bin").mkdir(parents=True)
    (stage / "lib").mkdir()
    (stage / "bin" / "zz-test-tool").write_text("tool\n")
    (stage / "lib" / "libzz.so").write_text("lib\n")
    archive = tar(tmp_path / "m.tar", stage, "./bin", "./bin/zz-test-tool", "./lib",
                  "./lib/libzz.so", extra=("--no-recursion",))
    manifest = Unpacker(root).extract(archive, "coreutils")
    assert (root / "bin").is_symlink() and (root / "lib").is_symlink()
    assert (root / "usr/bin/zz-test-tool").read_text() == "tool\n"
    assert (root / "usr/lib/libzz.so").read_text() == "lib\n"
    assert not Path("/usr/bin/zz-test-tool").exists()
    assert [e.path for e in manifest] == ["bin", "bin/zz-test-tool", "lib", "lib/libzz.so"]


def test_final_symlink_is_replaced_not_followed(tmp_path: Path, root: Path) -> None:
    host = tmp_path / "hostfile"
    host.write_text("host\n")
    (root / "etc").mkdir()
    (root / "etc" / "conf").symlink_to(host)
    stage = tmp_path / "stage"
    (stage / "etc").mkdir(parents=True)
    (stage / "etc" / "conf").write_text("package\n")
    Unpacker(root).extract(tar(tmp_path / "c.tar", stage, "./etc/conf"), "pkg")
    assert host.read_text() == "host\n"
    assert not (root / "etc/conf").is_symlink() and (root / "etc/conf").read_text() == "package\n"


def test_existing_dir_kept_mode_updated(tmp_path: Path, root: Path) -> None:
    (root / "srv").mkdir(mode=0o700)
    (root / "srv" / "keep").write_text("k\n")
    stage = tmp_path / "stage"
    (stage / "srv").mkdir(parents=True)
    os.chmod(stage / "srv", 0o1777)
    Unpacker(root).extract(tar(tmp_path / "d.tar", stage, "./srv"), "pkg")
    assert (root / "srv" / "keep").exists()
    assert stat.S_IMODE(os.stat(root / "srv").st_mode) == 0o1777


# --- owners, setuid, capabilities -------------------------------------------------------------

@ROOT_ONLY
def test_setuid_survives_chown_and_names_map(tmp_path: Path, root: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "tool").write_text("t\n")
    os.chown(stage / "tool", 4242, 4343)
    os.chmod(stage / "tool", 0o6755)
    archive = tar(tmp_path / "o.tar", stage, "./tool",
                  extra=("--owner=messagebus:4242", "--group=render:4343"))
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nmessagebus:x:101:103::/:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nrender:x:105:\n")
    ids = IdMap.from_root(root)
    assert ids.users["messagebus"] == 101 and ids.groups["render"] == 105
    entry = Unpacker(root).extract(archive, "dbus", ids=ids)[0]
    assert (entry.uid, entry.gid, entry.uname, entry.mode) == (101, 105, "messagebus", 0o6755)
    st = os.stat(root / "tool")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (101, 105, 0o6755)
    plain = Unpacker(root).extract(archive, "dbus")[0]
    assert (plain.uid, plain.gid) == (4242, 4343)


@ROOT_ONLY
def test_capability_xattr_kept(tmp_path: Path, root: Path) -> None:
    need("setcap", "getcap")
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "ping").write_text("ping\n")
    run("setcap", "cap_net_raw+ep", stage / "ping")
    archive = tar(tmp_path / "x.tar", stage, "./ping", extra=("--xattrs", "--xattrs-include=*"))
    entry = Unpacker(root).extract(archive, "iputils-ping")[0]
    assert [name for name, _ in entry.xattrs] == ["security.capability"]
    assert "cap_net_raw" in run("getcap", root / "ping").decode()


def test_unprivileged_records_intended_owner(tmp_path: Path, root: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    stage = tmp_path / "stage"
    (stage / "locked").mkdir(parents=True)
    (stage / "locked" / "secret").write_text("s\n")
    os.chmod(stage / "locked" / "secret", 0o000)
    os.chmod(stage / "locked", 0o500)
    archive = tar(tmp_path / "u.tar", stage, "./locked", "./locked/secret",
                  extra=("--owner=0", "--group=42", "--no-recursion"))
    os.chmod(stage / "locked", 0o700)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    manifest = Unpacker(root).extract(archive, "shadow")
    assert [(e.mode, e.gid) for e in manifest] == [(0o500, 42), (0o000, 42)]
    # On disk the build can still write into and read back what it unpacked.
    assert stat.S_IMODE(os.stat(root / "locked").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(root / "locked/secret").st_mode) == 0o600


def test_read_archive_members(tmp_path: Path) -> None:
    stage = stage_tree(tmp_path)
    archive = tar(tmp_path / "m.tar.gz", stage, "./usr", extra=("-z",))
    members = read_archive_members(archive)
    assert members == {"usr/bin/prog": b"program\n"}
    assert read_archive_members(archive.read_bytes()) == members


def _declared_tar() -> bytes:
    """A tar whose entries claim a setuid file, a symlink, a char device, a directory and a
    regular file, in that order."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out:
        for name, kind, extra in (("suid", tarfile.REGTYPE, b"x\n"), ("link", tarfile.SYMTYPE, b""),
                                  ("dev", tarfile.CHRTYPE, b""), ("dir", tarfile.DIRTYPE, b""),
                                  ("sym", tarfile.REGTYPE, b"target")):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size = kind, 0o4777, len(extra)
            info.linkname, info.devmajor, info.devminor = "link text", 1, 3
            out.addfile(info, io.BytesIO(extra))
    return buf.getvalue()


def test_declared_types_win_over_the_archive(root: Path) -> None:
    """declare(): the metadata's type, mode and link target win; a regular file keeps the
    archive's data (a symlink's link text); None leaves an entry out; raising refuses."""
    from bootstrap.unpack import Declared

    said = {"suid": Declared("file", 0o644), "link": Declared("file", 0o600), "dev": Declared("file", 0o644),
            "dir": None, "sym": Declared("symlink", 0o777, "target")}
    manifest = Unpacker(root).extract(_declared_tar(), "declared", declare=said.__getitem__)
    assert [(e.path, e.type, e.mode) for e in manifest] == [
        ("suid", "file", 0o644), ("link", "file", 0o600), ("dev", "file", 0o644), ("sym", "symlink", 0o777)]
    assert (root / "suid").read_bytes() == b"x\n" and (root / "link").read_bytes() == b"link text"
    assert stat.S_IMODE(os.stat(root / "suid").st_mode) == 0o644 and (root / "dev").read_bytes() == b""
    assert os.readlink(root / "sym") == "target" and not (root / "dir").exists()

    def refuse(path: str) -> Declared:
        raise UnpackError(f"{path} is not declared")

    with pytest.raises(UnpackError, match="suid is not declared"):
        Unpacker(root / "other").extract(_declared_tar(), "declared", declare=refuse)
