"""A path two packages of one build bring, or one the root already has, judged by the real
rpm (4.18, the host's): the same packages, built here by rpmbuild, are unpacked by the yum
adapter into one root and installed in one transaction by `rpm --root -i` into another
(prepared alike); both must refuse the same sets, with a message naming the path and both
packages, and otherwise leave the same trees (type, owner, mode, content, link target and the
mtime of everything but directories; rpm's database and the build's temporary dirs aside).
Each test is one scenario; both install the packages in the order the test names them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.adapters.yum.adapter import YumAdapter
from bootstrap.adapters.yum.files import differ
from bootstrap.adapters.yum.header import RpmFileInfo, read_rpm
from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import Package

HEAD = """%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
Name: NAME
Version: 1
Release: 1
Summary: test package
License: MIT
"""
_ASIDE = ("var/lib", "tmp", "var/tmp")  # rpm makes var/lib/rpm, prepare_root the tmps

Change = Callable[[Path], None]


def need_tools() -> None:
    missing = [t for t in ("rpm", "rpmbuild") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install rpm)")


def build(work: Path, name: str, install: str, files: str, *, arch: str = "noarch",
          requires: tuple[str, ...] = ()) -> Path:
    """An rpm of `name` whose %install and %files are the given text."""
    need_tools()
    spec = work / f"{name}-{arch}.spec"
    lines = [HEAD.replace("NAME", name)] + [f"Requires: {r}\n" for r in requires]
    if arch == "noarch":
        lines.append("BuildArch: noarch\n")
    lines.append(f"%description\ntest\n%install\n{install}\n%files\n{files}\n")
    spec.write_text("".join(lines))
    top = work / "top"
    argv = ["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)]
    if arch != "noarch":
        argv[2:2] = ["--target", f"{arch}-linux"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return next((top / "RPMS").glob(f"*/{name}-1-1.{arch}.rpm"))


def ours(root: Path, rpms: list[Path], log: list[str] | None = None) -> None:
    """The yum adapter's unpack phase over `rpms`, in order (UnpackError as it raises it)."""
    adapter = YumAdapter(log=(log.append if log is not None else None))
    tree = Root(root)
    adapter.prepare_root(tree)
    for path in rpms:
        with open(path, "rb") as fh:
            header = read_rpm(fh)
        adapter.unpack(Package(header.name, header.evr, header.arch), path, tree)


def theirs(root: Path, rpms: list[Path]) -> subprocess.CompletedProcess[str]:
    """`rpm --root -i` of `rpms` in one transaction, into a root prepared as ours, installing
    them in the order given: rpm installs packages nothing orders (no Requires between them, a
    multilib pair) in the reverse of the order they are named in, so they are named reversed."""
    YumAdapter().prepare_root(Root(root))
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"], check=True)
    return subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps",
                           "--nosignature", "--ignorearch", *map(str, reversed(rpms))],
                          capture_output=True, text=True)


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    found: dict[str, tuple[object, ...]] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if rel.startswith(tuple(f"{a}/" for a in _ASIDE)) or rel in _ASIDE:
                continue
            st = os.lstat(path)
            what: object = None
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            mtime = None if stat.S_ISDIR(st.st_mode) else int(st.st_mtime)
            found[rel] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), what, mtime)
    return found


def judged(tmp_path: Path, rpms: list[Path], change: Change | None = None) -> tuple[Path, Path]:
    """Both installs of `rpms` over roots `change` prepared alike; the trees must agree."""
    mine, ref = tmp_path / "ours", tmp_path / "theirs"
    for root in (mine, ref):
        root.mkdir()
        if change is not None:
            change(root)
    done = theirs(ref, rpms)
    assert done.returncode == 0, done.stderr
    ours(mine, rpms)
    assert tree(mine) == tree(ref)
    return mine, ref


def refused(tmp_path: Path, rpms: list[Path], path: str) -> UnpackError:
    """Both refuse `rpms`: rpm with its conflict line, the adapter with UnpackError saying it."""
    (tmp_path / "ref").mkdir()
    done = theirs(tmp_path / "ref", rpms)
    first, later = (_nevra(p) for p in rpms[:2])
    line = f"file {path} conflicts between attempted installs of {later} and {first}"
    assert done.returncode != 0 and line in done.stderr, done.stderr
    (tmp_path / "ours").mkdir()
    with pytest.raises(UnpackError) as caught:
        ours(tmp_path / "ours", rpms)
    assert line in caught.value.message and "\n" not in caught.value.message
    return caught.value


def _nevra(path: Path) -> str:
    with open(path, "rb") as fh:
        return read_rpm(fh).nevra


def etc(name: str, text: str, what: str = "%config(noreplace)", mode: str = "") -> tuple[str, str, str]:
    install = f"mkdir -p %{{buildroot}}/etc; printf '{text}' > %{{buildroot}}/etc/x"
    return name, install, f"{mode}{what} /etc/x" if what else f"{mode}/etc/x"


def test_two_packages_with_different_files_at_one_path_conflict(tmp_path: Path) -> None:
    a = build(tmp_path, *etc("a", "a\\n"))
    b = build(tmp_path, *etc("b", "b\\n"), requires=("a",))
    refused(tmp_path, [a, b], "/etc/x")


def test_identical_files_are_shared_and_the_first_copy_stays(tmp_path: Path) -> None:
    """The same content, mode and owner (%config or not): no conflict; rpm >= 4.11 creates only
    the first package's copy, so the later one's mtime is not the file's."""
    first = build(tmp_path, "first", "mkdir -p %{buildroot}/opt; echo same > %{buildroot}/opt/s; "
                  "touch -d 2001-01-01 %{buildroot}/opt/s", "/opt/s")
    later = build(tmp_path, "later", "mkdir -p %{buildroot}/opt; echo same > %{buildroot}/opt/s; "
                  "touch -d 2002-02-02 %{buildroot}/opt/s", "/opt/s", requires=("first",))
    mine, _ = judged(tmp_path, [first, later])
    assert int((mine / "opt/s").stat().st_mtime) == 978307200  # 2001-01-01


def test_a_directory_of_two_modes_conflicts(tmp_path: Path) -> None:
    a = build(tmp_path, "da", "mkdir -p %{buildroot}/opt/d", "%dir %attr(0700,root,root) /opt/d")
    b = build(tmp_path, "db", "mkdir -p %{buildroot}/opt/d", "%dir /opt/d", requires=("da",))
    refused(tmp_path, [a, b], "/opt/d")


def test_symlinks_to_different_targets_conflict(tmp_path: Path) -> None:
    a = build(tmp_path, "la", "mkdir -p %{buildroot}/opt; ln -s one %{buildroot}/opt/l", "/opt/l")
    b = build(tmp_path, "lb", "mkdir -p %{buildroot}/opt; ln -s two %{buildroot}/opt/l", "/opt/l", requires=("la",))
    refused(tmp_path, [a, b], "/opt/l")


def test_the_same_content_with_another_mode_conflicts(tmp_path: Path) -> None:
    a = build(tmp_path, *etc("ma", "same\\n", ""))
    b = build(tmp_path, *etc("mb", "same\\n", "", "%attr(0600,root,root) "), requires=("ma",))
    refused(tmp_path, [a, b], "/etc/x")


def test_a_ghost_never_conflicts(tmp_path: Path) -> None:
    real = build(tmp_path, *etc("real", "real\\n", ""))
    ghost = build(tmp_path, *etc("ghost", "ghost\\n", "%ghost"), requires=("real",))
    mine, _ = judged(tmp_path, [real, ghost])
    assert (mine / "etc/x").read_text() == "real\n"


@pytest.mark.parametrize("order", ["i686-first", "x86_64-first"])
def test_multilib_colors_give_the_path_to_the_64_bit_file(tmp_path: Path, order: str) -> None:
    """An i686 and an x86_64 build of one package: each ships /usr/bin/hello (ELF32, ELF64)
    and an identical /etc/shared.conf. Whichever comes first, the 64-bit binary is kept."""
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    rpms = []
    for arch, flag in (("i686", "-m32"), ("x86_64", "-m64")):
        binary = tmp_path / f"hello-{arch}"
        done = subprocess.run(["gcc", flag, "-static", "-o", str(binary), str(tmp_path / "m.c")], capture_output=True)
        assert done.returncode == 0, done.stderr
        install = (f"install -D -m 0755 {binary} %{{buildroot}}/usr/bin/hello; mkdir -p %{{buildroot}}/etc; "
                   "echo shared > %{buildroot}/etc/shared.conf")
        rpms.append(build(tmp_path, "ml", install, "/usr/bin/hello\n%config(noreplace) /etc/shared.conf", arch=arch))
    mine, _ = judged(tmp_path, rpms if order == "i686-first" else rpms[::-1])
    assert (mine / "usr/bin/hello").read_bytes()[4] == 2  # EI_CLASS: ELFCLASS64


def _local_x(root: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/x").write_text("local\n")


def test_a_noreplace_config_over_a_file_already_there_goes_to_rpmnew(tmp_path: Path) -> None:
    log: list[str] = []
    rpm = build(tmp_path, *etc("nr", "packaged\\n"))
    mine, _ = judged(tmp_path, [rpm], _local_x)
    assert (mine / "etc/x").read_text() == "local\n" and (mine / "etc/x.rpmnew").read_text() == "packaged\n"
    shutil.rmtree(mine)
    mine.mkdir()
    _local_x(mine)
    ours(mine, [rpm], log)
    assert log == ["warning: /etc/x created as /etc/x.rpmnew"]


def test_a_plain_config_over_a_file_already_there_saves_it_as_rpmorig(tmp_path: Path) -> None:
    mine, _ = judged(tmp_path, [build(tmp_path, *etc("plain", "packaged\\n", "%config"))], _local_x)
    assert (mine / "etc/x").read_text() == "packaged\n" and (mine / "etc/x.rpmorig").read_text() == "local\n"


def test_a_file_already_there_that_is_no_config_is_replaced(tmp_path: Path) -> None:
    mine, _ = judged(tmp_path, [build(tmp_path, *etc("nonconf", "packaged\\n", ""))], _local_x)
    assert (mine / "etc/x").read_text() == "packaged\n" and sorted(os.listdir(mine / "etc")) == ["x"]


def test_a_config_file_already_there_and_the_same_is_replaced_without_rpmnew(tmp_path: Path) -> None:
    def same(root: Path) -> None:
        (root / "etc").mkdir()
        (root / "etc/x").write_text("packaged\n")
        (root / "etc/x").chmod(0o600)

    mine, _ = judged(tmp_path, [build(tmp_path, *etc("same", "packaged\\n"))], same)
    assert sorted(os.listdir(mine / "etc")) == ["x"] and stat.S_IMODE((mine / "etc/x").stat().st_mode) == 0o644


def test_before_rpm_4_11_only_type_content_and_target_tell_files_apart() -> None:
    """rpmfilesCompare before 2012 (rpm 4.8's rpmfiCompare): mode and owners are no conflict.
    (No rpm older than the host's is at hand to judge this one: it is the rule as written.)"""
    a = RpmFileInfo("/etc/x", stat.S_IFREG | 0o644, "root", "root", 0, 5, digest="ab")
    b = RpmFileInfo("/etc/x", stat.S_IFREG | 0o600, "root", "mail", 0, 5, digest="ab")
    assert differ(a, 8, b, 8, strict=False) is False
    assert differ(a, 8, b, 8, strict=True) is True
    assert differ(a, 8, RpmFileInfo("/etc/x", stat.S_IFREG | 0o644, "root", "root", 0, 5, digest="cd"), 8,
                  strict=False) is True
