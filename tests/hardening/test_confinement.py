"""Nothing leaves the root: the tool's own writes (Root) and the unpacker, aimed through a
symlink a package shipped to a host directory, never touch that directory (issue: "nothing
leaves the root"). Each case runs with openat2 (where the kernel has it) and with the walk."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bootstrap.errors import BootstrapError, UnpackError, UnsafePathError
from bootstrap.pack import write_output
from bootstrap.root import Root, openat2
from bootstrap.types import FileEntry
from bootstrap.unpack import Unpacker

AS_ROOT = os.geteuid() == 0
MODES = ["openat2", "walk"]
# Where the tool writes (families' databases, caches, repository configuration) and a parent.
PLACES = ["etc/apt", "var/lib/dpkg/info", "lib/apk/db", "var/lib/rpm", "var/cache/apt",
          "var/cache/dnf", "var/cache/apk", "etc"]
REFUSED = (BootstrapError, FileNotFoundError, NotADirectoryError)

Snapshot = dict[str, tuple[int, int, int, int, bytes]]


def snapshot(top: Path) -> Snapshot:
    """Every path under `top` with mode, owner, mtime and content (or link target)."""
    found: Snapshot = {}
    for here, dirs, files in os.walk(top):
        for name in [".", *dirs, *files]:
            path = Path(here, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                body = path.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                body = os.fsencode(os.readlink(path))
            else:
                body = b""
            xattrs = b"".join(n.encode() for n in sorted(os.listxattr(path, follow_symlinks=False)))
            found[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid,
                                                 st.st_mtime_ns, body + xattrs)
    return found


@pytest.fixture()
def canary(tmp_path: Path) -> Iterator[Path]:
    """A host directory outside the root, with files, that must stay exactly as it is."""
    top = tmp_path / "canary"
    (top / "sub").mkdir(parents=True)
    (top / "a").write_text("canary a\n")
    (top / "sub/b").write_text("canary b\n")
    (top / "link").symlink_to("a")
    os.chmod(top / "a", 0o640)
    for path in (top / "a", top / "sub/b", top / "sub", top):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    yield top


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "openat2" and not openat2.available():
        pytest.skip("openat2 is not available here")
    if request.param == "walk":
        monkeypatch.setattr(openat2, "available", lambda: False)
    return str(request.param)


def shipped_link(root: Path, place: str, canary: Path, relative: bool) -> None:
    """`place` as a package would ship it: a symlink to the host's canary directory."""
    link = root / place
    link.parent.mkdir(parents=True, exist_ok=True)
    target = ("../" * 30 + str(canary).lstrip("/")) if relative else str(canary)
    link.symlink_to(target)


def operations(tmp_path: Path, place: str) -> dict[str, Callable[[Root], object]]:
    source = tmp_path / "host-source"
    return {
        "write_text new": lambda r: r.write_text(f"{place}/new", "x\n"),
        "write_text over": lambda r: r.write_text(f"{place}/a", "x\n"),
        "write_bytes": lambda r: r.write_bytes(f"{place}/sub/b", b"x"),
        "copy_in": lambda r: r.copy_in(source, f"{place}/a"),
        "mkdir": lambda r: r.mkdir(f"{place}/newdir", 0o777),
        "mkdir existing": lambda r: r.mkdir(f"{place}/sub", 0o777),
        "symlink": lambda r: r.symlink("/etc/shadow", f"{place}/newlink"),
        "symlink replace": lambda r: r.symlink("/etc/shadow", f"{place}/link", replace=True),
        "rename out": lambda r: r.rename(f"{place}/a", "stolen"),
        "rename in": lambda r: (r.write_text("mine", "m\n"), r.rename("mine", f"{place}/a")),
        "chmod": lambda r: r.chmod(f"{place}/a", 0o777),
        "chmod dir": lambda r: r.chmod(f"{place}/sub", 0o777),
        "chmod link": lambda r: r.chmod(place, 0o777),  # the link itself: no mode, left alone
        "chown link": lambda r: r.chown(place, 4242, 4242),
        "chown": lambda r: r.chown(f"{place}/a", 4242, 4242),
        "setxattr": lambda r: r.setxattr(f"{place}/a", "user.canary", b"1"),
        "unlink": lambda r: r.unlink(f"{place}/a", missing_ok=False),
        "remove_tree sub": lambda r: r.remove_tree(f"{place}/sub", missing_ok=False),
        "remove_tree link": lambda r: r.remove_tree(place),
        "clear_dir link": lambda r: r.clear_dir(place),
        "clear_dir sub": lambda r: r.clear_dir(f"{place}/sub"),
        "touch": lambda r: r.touch(f"{place}/touched"),
        "touch existing": lambda r: r.touch(f"{place}/a"),
    }


OPS = list(operations(Path("/nonexistent"), "x"))


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
@pytest.mark.parametrize("place", PLACES)
def test_root_writes_stay_inside(tmp_path: Path, canary: Path, mode: str, place: str,
                                 relative: bool) -> None:
    (tmp_path / "host-source").write_text("from the host\n")
    before = snapshot(canary)
    for op, run in operations(tmp_path, place).items():
        root = tmp_path / f"root-{OPS.index(op)}"
        root.mkdir()
        shipped_link(root, place, canary, relative)
        handle = Root(root)
        assert handle._at == (mode == "openat2")
        try:
            run(handle)
        except REFUSED:
            pass
        except OSError as err:  # e.g. user xattrs on tmpfs: still refused, never outside
            assert err.errno is not None, op
        assert snapshot(canary) == before, f"{op} through {place} changed the canary"
        landed = root / str(canary).lstrip("/")
        if op in ("write_text new", "touch"):
            name = "new" if op == "write_text new" else "touched"
            assert (landed / name).is_file(), f"{op}: the write did not land inside the root"


def test_reads_do_not_leave(tmp_path: Path, canary: Path, mode: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shipped_link(root, "etc/apt", canary, False)
    handle = Root(root)
    with pytest.raises(FileNotFoundError):
        handle.read_text("etc/apt/a")
    assert handle.read_text_or("etc/apt/a", "none") == "none"
    assert not handle.exists("etc/apt/sub/b")
    with pytest.raises(FileNotFoundError):
        handle.listdir("etc/apt")


def test_magic_link_refused(tmp_path: Path, canary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not openat2.available():
        pytest.skip("openat2 is not available here")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/apt").symlink_to(f"/proc/self/cwd/{canary}")  # absolute: restarts at root
    monkeypatch.chdir(canary)
    Root(root).write_text("etc/apt/x", "x\n")
    assert not (canary / "x").exists()


@pytest.mark.skipif(not openat2.available(), reason="openat2 is not available here")
def test_race_swapped_symlink_never_escapes(tmp_path: Path, canary: Path) -> None:
    """A thread flips `etc` between a real directory inside the root and a symlink to the
    canary while the tool writes through it; nothing reaches the canary."""
    root = tmp_path / "root"
    (root / "etc.real/apt").mkdir(parents=True)
    (root / "etc").symlink_to("etc.real")
    before = snapshot(canary)
    stop = threading.Event()
    flips = 0

    def flip() -> None:
        nonlocal flips
        targets = ["../" * 30 + str(canary).lstrip("/"), "etc.real"]
        while not stop.is_set():
            tmp = root / f".etc-{flips}"
            tmp.symlink_to(targets[flips % 2])
            os.replace(tmp, root / "etc")
            flips += 1

    thread = threading.Thread(target=flip)
    thread.start()
    handle = Root(root)
    writes = refused = 0
    kinds: set[str] = set()
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for run in (lambda: handle.write_text("etc/apt/sources.list", "deb x\n"),
                        lambda: handle.chmod("etc/apt/sources.list", 0o600),
                        lambda: handle.chown("etc/apt/sources.list", 4242, 4242),
                        lambda: handle.mkdir("etc/apt/d"),
                        lambda: handle.unlink("etc/a"),
                        lambda: handle.write_text("etc/sub/b", "x\n")):
                try:
                    run()
                    writes += 1
                except (BootstrapError, OSError) as err:  # lost the race: refused, fine
                    refused += 1
                    kinds.add(type(err).__name__)
    finally:
        stop.set()
        thread.join()
    assert flips > 10 and writes > 10, (flips, writes, refused, kinds)
    assert snapshot(canary) == before
    # UnpackError: mkdir met `etc` as a link to outside, which RESOLVE_IN_ROOT sees dangling.
    assert kinds <= {"FileNotFoundError", "NotADirectoryError", "FileExistsError", "UnpackError"}, kinds


# -- the unpacker --------------------------------------------------------------------------------


def make_tar(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for info in members:
            body = (data or {}).get(info.name)
            if body is not None:
                info.size = len(body)
                out.addfile(info, io.BytesIO(body))
            else:
                out.addfile(info)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 1_700_000_000
    for key, value in kw.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize("place", PLACES)
def test_unpacker_through_preexisting_link_stays_inside(tmp_path: Path, canary: Path,
                                                        place: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shipped_link(root, place, canary, True)
    before = snapshot(canary)
    payload = make_tar([member(f"./{place}/a"), member(f"./{place}/sub/b"),
                        member(f"./{place}/newdir/", tarfile.DIRTYPE, 0o777),
                        member(f"./{place}/link", tarfile.SYMTYPE, linkname="/etc/shadow")],
                       {f"./{place}/a": b"pkg\n", f"./{place}/sub/b": b"pkg\n"})
    try:
        Unpacker(root).extract(payload, "evil")
    except BootstrapError:
        pass
    assert snapshot(canary) == before


def test_unpacker_refuses_link_then_file(tmp_path: Path, canary: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(canary)
    payload = make_tar([member("./etc/", tarfile.DIRTYPE, 0o755),
                        member("./etc/apt", tarfile.SYMTYPE, linkname=str(canary)),
                        member("./etc/apt/a")], {"./etc/apt/a": b"evil\n"})
    with pytest.raises(UnsafePathError):
        Unpacker(root).extract(payload, "evil")
    assert snapshot(canary) == before


DEVICES = [("./dev/null", tarfile.CHRTYPE, 0o666, 1, 3, 0, 0),
           ("./dev/sda", tarfile.BLKTYPE, 0o660, 8, 0, 0, 6),
           ("./dev/tty0", tarfile.CHRTYPE, 0o620, 4, 0, 0, 5)]


@pytest.mark.skipif(not AS_ROOT, reason="needs root: mknod would work, and must not be used")
def test_device_nodes_recorded_not_made(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    members = [member("./dev/", tarfile.DIRTYPE, 0o755), member("./etc/", tarfile.DIRTYPE, 0o755),
               member("./etc/hostname")]
    for name, kind, perm, major, minor, uid, gid in DEVICES:
        members.append(member(name, kind, perm, devmajor=major, devminor=minor, uid=uid, gid=gid))
    members.append(member("./dev/zz-file"))
    manifest = Unpacker(root).extract(make_tar(members, {"./etc/hostname": b"h\n",
                                                         "./dev/zz-file": b"z\n"}), "devs")
    by_path = {item.path: item for item in manifest}
    for name, kind, perm, major, minor, uid, gid in DEVICES:
        rel = name[2:]
        assert not os.path.lexists(root / rel), f"{rel} was created on disk"
        item = by_path[rel]
        assert (item.type, item.mode, item.devmajor, item.devminor, item.uid, item.gid) == (
            "char" if kind == tarfile.CHRTYPE else "block", perm, major, minor, uid, gid)
    assert not any(stat.S_ISCHR(os.lstat(p).st_mode) or stat.S_ISBLK(os.lstat(p).st_mode)
                   for p in root.rglob("*"))

    out = write_output(root, str(tmp_path / "out.tar"), overrides=by_path)
    assert out is not None
    listing = subprocess.run(["tar", "--numeric-owner", "-tvf", str(out)], check=True,
                             capture_output=True, text=True).stdout.splitlines()
    names = [line.split()[-1] for line in listing]
    assert names == sorted(names, key=os.fsencode)
    for name, kind, perm, major, minor, uid, gid in DEVICES:
        line = listing[names.index(name)]
        want = ("c" if kind == tarfile.CHRTYPE else "b") + stat.filemode(perm)[1:]
        fields = line.split()
        assert fields[0] == want, line
        assert fields[1] == f"{uid}/{gid}", line
        assert fields[2] == f"{major},{minor}", line
    with tarfile.open(out) as check:
        sda = check.getmember("./dev/sda")
        assert sda.isblk() and (sda.devmajor, sda.devminor, sda.mode, sda.gid) == (8, 0, 0o660, 6)


def test_device_entry_replaces_what_stood_there(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "dev/null").write_text("a file\n")
    manifest = Unpacker(root).extract(make_tar([member("./dev/null", tarfile.CHRTYPE, 0o666,
                                                       devmajor=1, devminor=3)]), "devs")
    assert not os.path.lexists(root / "dev/null")
    assert manifest == [FileEntry("dev/null", "char", 0o666, 0, 0, 1_700_000_000,
                                  package="devs", devmajor=1, devminor=3)]


def test_mkdir_over_a_dangling_shipped_link_says_what_stands_there(tmp_path: Path, mode: str,
                                                                    canary: Path) -> None:
    root = tmp_path / "root"
    shipped_link(root, "etc/apt/sources.list.d", canary, relative=False)
    (root / "etc" / "apt" / "trusted.gpg").write_bytes(b"")
    with pytest.raises(UnpackError, match=r"^cannot make directory /etc/apt/sources.list.d: a symlink "
                                          r"to '/.*canary' that leads to no directory inside the root"):
        Root(root).mkdir("etc/apt/sources.list.d")
    with pytest.raises(UnpackError, match=r"^cannot make directory /etc/apt/trusted.gpg: a file"):
        Root(root).mkdir("/etc/apt/trusted.gpg/")
