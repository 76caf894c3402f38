"""A path an earlier package of the build unpacked (a conffile above all), judged by the real
dpkg (1.21, the host's) with `--root`.

The same tiny .debs (dpkg-deb, no maintainer scripts) are installed by `dpkg --root=T -i` in
one root and, in another, unpacked by the apt adapter, registered and then configured by the
same host dpkg (`--configure -a`). Both must refuse the same sets with dpkg's words, naming
the path and the package that has it; otherwise they must leave the same files (type, owner,
mode, content, link target) and the same database: status file, and every package's .list,
.md5sums and conffiles. Each test is one scenario, the packages in the order dpkg is given.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bootstrap.adapters.apt.adapter import AptAdapter
from bootstrap.adapters.apt.packages import parse_packages
from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import Target

# dpkg's own logs and run-time files, which only the reference's dpkg -i leaves.
_ASIDE = ("var/lib/dpkg", "var/log")


def need_dpkg() -> None:
    if shutil.which("dpkg") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs dpkg and dpkg-deb")


def deb(work: Path, name: str, files: dict[str, bytes | None], *, conffiles: Sequence[str] = (),
        fields: str = "", version: str = "1.0") -> Path:
    """A .deb of `files` (path → content; None for a directory) and `conffiles`."""
    need_dpkg()
    tree = work / f"tree-{name}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                         f"Maintainer: T <t@example.invalid>\nDescription: test {name}\n{fields}")
    if conffiles:
        (tree / "DEBIAN/conffiles").write_text("".join(f"{c}\n" for c in conffiles))
    for path, content in files.items():
        target = tree / path.lstrip("/")
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    out = work / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
                   check=True, capture_output=True)
    return out


def ours(root: Path, debs: Sequence[Path]) -> None:
    """The apt adapter's unpack and register phases over `debs`, in order, then the host's
    dpkg configuring that database (as the image's dpkg does it in a build)."""
    adapter = AptAdapter()
    tree = Root(root)
    adapter.prepare_root(tree)
    installed = []
    for path in debs:
        control = subprocess.run(["dpkg-deb", "--field", str(path)], check=True, capture_output=True).stdout
        pkg = parse_packages(control, base_url="file:///", repo_id="t")[0]
        installed.append(adapter.unpack(pkg, path, tree))
    adapter.register(tree, installed, Target("amd64", ()))
    done = subprocess.run(["dpkg", f"--root={root}", "--configure", "-a"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr


def theirs(root: Path, debs: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    AptAdapter().prepare_root(Root(root))
    return subprocess.run(["dpkg", f"--root={root}", "-i", *map(str, debs)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    found: dict[str, tuple[object, ...]] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if rel in _ASIDE or rel.startswith(tuple(f"{a}/" for a in _ASIDE)):
                continue
            st = os.lstat(path)
            what: object = None
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            found[rel] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), what)
    return found


def database(root: Path) -> dict[str, str]:
    """The status file and every info/*.list, *.md5sums and *.conffiles, by name."""
    admin = root / "var/lib/dpkg"
    found = {"status": (admin / "status").read_text()}
    for path in sorted((admin / "info").iterdir()):
        if path.suffix in (".list", ".md5sums", ".conffiles"):
            found[path.name] = path.read_text()
    return found


def judged(tmp_path: Path, debs: Sequence[Path]) -> Path:
    """Both installs of `debs`; the trees and databases must agree. Returns the adapter's root."""
    mine, ref = tmp_path / "ours", tmp_path / "theirs"
    mine.mkdir()
    ref.mkdir()
    done = theirs(ref, debs)
    assert done.returncode == 0, done.stderr
    ours(mine, debs)
    assert tree(mine) == tree(ref)
    assert database(mine) == database(ref)
    return mine


def refused(tmp_path: Path, debs: Sequence[Path], words: str) -> None:
    """Both refuse the last of `debs` with dpkg's `words`."""
    (tmp_path / "ref").mkdir()
    done = theirs(tmp_path / "ref", debs)
    assert done.returncode != 0 and words in done.stderr, done.stderr
    (tmp_path / "ours").mkdir()
    with pytest.raises(UnpackError) as caught:
        ours(tmp_path / "ours", debs)
    assert words in caught.value.message and "\n" not in caught.value.message


def _conf(name: str, text: bytes, fields: str = "") -> dict[str, object]:
    """A package with the conffile /etc/x and a file of its own (so it keeps one: dpkg makes a
    package whose every file was taken disappear, which no build meets)."""
    return {"name": name, "files": {"/etc/x": text, f"/usr/share/{name}/own": name.encode()},
            "conffiles": ["/etc/x"], "fields": fields}


def _debs(tmp_path: Path, *specs: dict[str, object]) -> list[Path]:
    return [deb(tmp_path, **spec) for spec in specs]  # type: ignore[arg-type]


def test_a_conffile_another_package_has_is_refused(tmp_path: Path) -> None:
    debs = _debs(tmp_path, _conf("a", b"a\n"), _conf("c", b"c\n"))
    refused(tmp_path, debs, "trying to overwrite '/etc/x', which is also in package a 1.0")


def test_a_plain_file_another_package_has_is_refused(tmp_path: Path) -> None:
    debs = [deb(tmp_path, "a", {"/usr/share/common/f": b"a\n"}), deb(tmp_path, "c", {"/usr/share/common/f": b"c\n"})]
    refused(tmp_path, debs, "trying to overwrite '/usr/share/common/f', which is also in package a 1.0")


def test_replaces_takes_the_conffile_over(tmp_path: Path) -> None:
    """b Replaces: a, after a: b's /etc/x is installed, leaves a's .list, and a's status
    records the conffile `newconffile obsolete`."""
    debs = _debs(tmp_path, _conf("a", b"a\n"), _conf("b", b"b\n", "Replaces: a\n"))
    mine = judged(tmp_path, debs)
    assert (mine / "etc/x").read_bytes() == b"b\n"
    assert " /etc/x newconffile obsolete\n" in (mine / "var/lib/dpkg/status").read_text().split("Package: b")[0]


def test_replaces_keeps_the_conffile_when_the_replacer_came_first(tmp_path: Path) -> None:
    """b (Replaces: a) first, then a: a's /etc/x is not unpacked at all."""
    debs = _debs(tmp_path, _conf("b", b"b\n", "Replaces: a\n"), _conf("a", b"a\n"))
    mine = judged(tmp_path, debs)
    assert (mine / "etc/x").read_bytes() == b"b\n"
    assert "/etc/x" not in (mine / "var/lib/dpkg/info/a.list").read_text()


def test_replaces_whose_version_the_other_does_not_meet_is_no_replaces(tmp_path: Path) -> None:
    debs = _debs(tmp_path, _conf("a", b"a\n"), _conf("b", b"b\n", "Replaces: a (<< 1.0)\n"))
    refused(tmp_path, debs, "trying to overwrite '/etc/x', which is also in package a 1.0")


def test_replaces_whose_version_the_other_meets_takes_over(tmp_path: Path) -> None:
    debs = _debs(tmp_path, _conf("a", b"a\n"), _conf("b", b"b\n", "Replaces: a (<< 2~)\n"))
    assert (judged(tmp_path, debs) / "etc/x").read_bytes() == b"b\n"


def test_directories_are_shared(tmp_path: Path) -> None:
    debs = [deb(tmp_path, "a", {"/usr/share/common": None, "/usr/share/common/a": b"a\n"}),
            deb(tmp_path, "c", {"/usr/share/common": None, "/usr/share/common/c": b"c\n"})]
    judged(tmp_path, debs)


def test_a_file_over_another_packages_directory_is_refused(tmp_path: Path) -> None:
    debs = [deb(tmp_path, "a", {"/usr/share/thing/inside": b"a\n"}), deb(tmp_path, "c", {"/usr/share/thing": b"c\n"})]
    refused(tmp_path, debs, "trying to overwrite directory '/usr/share/thing' in package a 1.0 with nondirectory")
