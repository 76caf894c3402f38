"""Installing with the apk adapter, judged by the real apk-tools 2.12.9 of the 3.16.9 minirootfs.

The same .apk files are installed into two copies of the minirootfs: by the adapter in one, by
`apk add --allow-untrusted` in the other. Inside the adapter's copy `apk info` must list the
package, `apk audit` must say what it says on the reference copy, `apk verify` must accept the
package; the installed-database stanza, owners and modes of every file must be the same.
Packages: one made here (abuild layout, RSA-signed by a throwaway key, with a post-install script,
a symlink, owner names to map) and apko's melange-built pair (replayout replaces
pretend-baselayout; a file with an empty user name and group name `dialout`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bootstrap.adapters.apk.adapter import ApkAdapter
from bootstrap.adapters.apk.db import parse_installed
from bootstrap.adapters.apk.index import parse_apkindex, read_index_tarball
from bootstrap.errors import ChecksumError, UnknownSigner, UnpackError, VerificationError
from bootstrap.root import Root
from bootstrap.trust import rsa
from bootstrap.types import Repository, RepoTrust, Target
from tests.apk.apkrepo import (
    DATA,
    ApkSpec,
    DirFetcher,
    chroot,
    extract_minirootfs,
    make_apk,
    make_index,
    make_key,
    need_root_chroot,
)

MINI = "alpine-minirootfs-3.16.9-x86_64.tar.gz"


class ChrootScripts:
    """A Runner for the test: the command in a plain chroot (the scripts here need no mounts)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ran: list[list[str]] = []

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None, input: bytes | None = None) -> None:
        self.ran.append(list(argv))
        subprocess.run(["chroot", str(self.root), *argv], check=True, capture_output=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def _hello(directory: Path, key) -> Path:
    spec = ApkSpec(
        name="hello-apk", version="1.2.3-r1", depends=("busybox",),
        files={"usr": ("dir",), "usr/bin": ("dir",), "usr/bin/hello-apk": b"#!/bin/sh\necho hello\n",
               "usr/bin/hi": ("symlink", "hello-apk"), "etc": ("dir",), "etc/hello.conf": b"greeting=1\n",
               "var": ("dir",), "var/lib": ("dir",), "var/lib/hello": ("dir",)},
        owners={"usr/bin/hello-apk": ("root", "root", 0, 0, 0o755),
                # names map through the root's /etc/group and /etc/passwd, numbers are the fallback
                "etc/hello.conf": ("root", "shadow", 0, 999, 0o640),
                "var/lib/hello": ("nobody", "nogroup", 777, 778, 0o750)},
        scripts={".post-install": "#!/bin/sh\necho \"$1\" > /var/lib/hello/post-install-ran\n"})
    return make_apk(spec, key, directory)


def _adapter_install(root: Path, repo_dir: Path, keys: list[Path], names: list[str]) -> ApkAdapter:
    adapter = ApkAdapter()
    repo = Repository("main", "apk", repo_dir.parent.as_uri(), keyrings=tuple(str(k) for k in keys))

    index = adapter.load(repo, "x86_64", DirFetcher(), lambda line: None)
    universe = {p.name: p for p in index.packages}
    target = Target("x86_64", tuple(names), {repo.id: index.trust})
    tree = Root(root)
    adapter.prepare_root(tree)
    installed = []
    for name in names:
        pkg = universe[name]
        path = repo_dir / pkg.filename
        adapter.check_payload(pkg, path, index.trust)
        installed.append(adapter.unpack(pkg, path, tree))
    adapter.register(tree, installed, target)
    runner = ChrootScripts(root)
    adapter.configure(tree, installed, runner, target)
    return adapter


def _stanza(root: Path, name: str):
    text = (root / "lib/apk/db/installed").read_text()
    found = [s for s in parse_installed(text) if s.name == name]
    assert len(found) == 1, f"{name} appears {len(found)} times in the installed database"
    return found[0]


def _stat(root: Path, rel: str) -> tuple[int, int, int]:
    st = os.lstat(root / rel)
    return st.st_uid, st.st_gid, st.st_mode


@pytest.fixture()
def two_roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    need_root_chroot()
    ours = extract_minirootfs(MINI, tmp_path / "ours")
    ref = tmp_path / "ref"
    shutil.copytree(ours, ref, symlinks=True)
    untouched = tmp_path / "untouched"
    shutil.copytree(ours, untouched, symlinks=True)
    return ours, ref, untouched


CASES = {
    "made-here": (["hello-apk"], ["usr/bin/hello-apk", "usr/bin/hi", "etc/hello.conf", "var/lib/hello"]),
    # replayout ships etc/os-release, which the minirootfs has unowned: apk keeps that file and
    # writes the package's as etc/os-release.apk-new (so its audit says `U etc/os-release`),
    # and so does the adapter (tests/apk/test_protected.py has the cases one by one).
    "melange": (["pretend-baselayout", "replayout"], ["etc/os-release", "etc/os-release.apk-new"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_adapter_install_looks_like_apk_add(case: str, tmp_path: Path, two_roots) -> None:
    ours, ref, untouched = two_roots
    names, paths = CASES[case]
    if case == "made-here":
        key = make_key(tmp_path / "keys")
        repo_dir = tmp_path / "repo" / "x86_64"
        _hello(repo_dir, key)
        make_index(repo_dir, key)
        keys = [key.public]
    else:
        repo_dir = DATA / "testrepo" / "x86_64"
        keys = [DATA / "testrepo" / "melange.rsa.pub"]
    _adapter_install(ours, repo_dir, keys, names)
    files = " ".join(f"/tmp/{n}.apk" for n in names)
    for root in (ours, ref):
        for name in names:
            shutil.copy(next(repo_dir.glob(f"{name}-[0-9]*.apk")), root / "tmp" / f"{name}.apk")
    chroot(ref, f"apk add --no-network --allow-untrusted {files}")

    info = chroot(ours, "apk info").stdout.split()
    assert set(names) <= set(info)
    # Beyond the untouched minirootfs: only the repository key the adapter added to /etc/apk/keys
    # (the reference had no key: it was told --allow-untrusted).
    added = {f"A etc/apk/keys/{k.name}" for k in keys if not (untouched / "etc/apk/keys" / k.name).exists()}
    audit = set(chroot(ours, "apk audit").stdout.splitlines())
    assert audit - added == set(chroot(ref, "apk audit").stdout.splitlines())
    if case == "made-here":
        assert audit == set(chroot(untouched, "apk audit").stdout.splitlines()) | added
    assert chroot(ours, f"apk verify {files}").returncode == 0
    for name in names:
        mine, theirs = _stanza(ours, name), _stanza(ref, name)
        assert mine.header == theirs.header
        assert sorted((d.name, d.lines, [(f.name, f.lines) for f in d.files]) for d in mine.dirs) == \
            sorted((d.name, d.lines, [(f.name, f.lines) for f in d.files]) for d in theirs.dirs)
    for rel in paths:
        assert _stat(ours, rel) == _stat(ref, rel), rel
    # `apk add FILE` pins the file's checksum (`name><Q1...`); from a repository it is the name.
    ref_world = [line.split("><")[0] for line in (ref / "etc/apk/world").read_text().splitlines()]
    assert (ours / "etc/apk/world").read_text().splitlines() == ref_world
    if case == "melange":  # uname "" → the uid 501 itself; gname dialout → Alpine's gid 20
        assert _stat(ours, "etc/os-release.apk-new")[:2] == (501, 20)
        assert (ours / "etc/os-release").read_bytes() == (untouched / "etc/os-release").read_bytes()
    if case == "made-here":
        assert (ours / "var/lib/hello/post-install-ran").read_text() == "1.2.3-r1\n"
        assert (ref / "var/lib/hello/post-install-ran").read_text() == "1.2.3-r1\n"


def test_checksum_and_signature_failures(tmp_path: Path) -> None:
    key, other = make_key(tmp_path / "k1"), make_key(tmp_path / "k2", "other@example.org-2.rsa.pub")
    repo_dir = tmp_path / "repo" / "x86_64"
    apk = _hello(repo_dir, key)
    make_index(repo_dir, key)
    adapter = ApkAdapter()
    text = read_index_tarball((repo_dir / "APKINDEX.tar.gz").read_bytes(), rsa.load_keys([key.public]), "t")[1]
    pkg = parse_apkindex(text, repo_dir.parent.as_uri(), "x86_64")[0]
    trust = RepoTrust("main", repo_dir.parent.as_uri(), keyrings=(str(key.public),))
    adapter.check_payload(pkg, apk, trust)
    # Same name and version, rebuilt: the control stream differs from what the index vouches for.
    spec = ApkSpec(name="hello-apk", version="1.2.3-r1", files={"etc": ("dir",)})
    make_apk(spec, key, tmp_path / "evil")
    with pytest.raises(ChecksumError, match="control checksum"):
        adapter.check_payload(pkg, tmp_path / "evil" / apk.name, trust)
    # A signature that names the trusted key but was made by another one: a forgery.
    from bootstrap.adapters.apk.package import split_gzip_streams
    from tests.apk.apkrepo import Key, _signature_stream
    streams = split_gzip_streams(apk.read_bytes(), "x")
    forged = tmp_path / "forged.apk"
    forger = Key(key.name, other.private, other.public)
    forged.write_bytes(_signature_stream(forger, streams[1]) + b"".join(streams[1:]))
    with pytest.raises(VerificationError, match="bad signature") as bad:
        adapter.check_payload(pkg, forged, trust)
    assert not isinstance(bad.value, UnknownSigner)  # a forgery, never excused by the index
    # The index itself, signed by a key we do not trust.
    with pytest.raises(VerificationError):
        read_index_tarball((repo_dir / "APKINDEX.tar.gz").read_bytes(), rsa.load_keys([other.public]), "t")


def test_a_signer_we_do_not_hold_is_vouched_for_by_the_index(tmp_path: Path) -> None:
    """Unsigned, or signed by a key we lack: accepted when the verified index's C: matches the
    control stream, refused (UnknownSigner) when the index gives no C: to vouch for it."""
    key, other = make_key(tmp_path / "k1"), make_key(tmp_path / "k2", "other@example.org-2.rsa.pub")
    repo_dir = tmp_path / "repo" / "x86_64"
    apk = _hello(repo_dir, other)  # the package by a key we do not hold, the index by ours
    make_index(repo_dir, key)
    text = read_index_tarball((repo_dir / "APKINDEX.tar.gz").read_bytes(), rsa.load_keys([key.public]), "t")[1]
    pkg = parse_apkindex(text, repo_dir.parent.as_uri(), "x86_64")[0]
    trust = RepoTrust("main", repo_dir.parent.as_uri(), keyrings=(str(key.public),))
    adapter = ApkAdapter()
    adapter.check_payload(pkg, apk, trust)
    from bootstrap.adapters.apk.package import split_gzip_streams
    unsigned = tmp_path / "unsigned.apk"
    unsigned.write_bytes(b"".join(split_gzip_streams(apk.read_bytes(), "x")[1:]))
    adapter.check_payload(pkg, unsigned, trust)
    no_checksum = dataclasses.replace(pkg, fields=tuple(f for f in pkg.fields if f[0] != "C"))
    with pytest.raises(UnknownSigner, match="no trusted key"):
        adapter.check_payload(no_checksum, apk, trust)
    with pytest.raises(UnknownSigner, match="not signed"):
        adapter.check_payload(no_checksum, unsigned, trust)
    # Nothing kept for later phases (unpack's file owners are unpack's own: none were made here).
    assert set(vars(adapter)) == {"profile", "log", "_owners"} and not adapter._owners._by_path


def test_register_needs_nothing_from_earlier_phases(tmp_path: Path) -> None:
    """A fresh adapter (no load, no check_payload) writes world, arch and keys from Target."""
    key = make_key(tmp_path / "keys")
    (tmp_path / "root").mkdir()
    tree = Root(tmp_path / "root")
    tree.write_text("etc/apk/world", "busybox\n")  # a minirootfs' world is kept and added to
    trust = RepoTrust("main", "file:///repo", keyrings=(str(key.public),), signers=(key.name,))
    adapter = ApkAdapter()
    adapter.prepare_root(tree)
    adapter.register(tree, [], Target("x86_64", ("hello-apk",), {"main": trust}))
    assert tree.read_text("etc/apk/world") == "busybox\nhello-apk\n"
    assert tree.read_text("etc/apk/arch") == "x86_64\n"
    assert tree.read_bytes(f"etc/apk/keys/{key.name}") == key.public.read_bytes()
    assert tree.is_file("lib/apk/db/lock") and tree.is_file("lib/apk/db/installed")
    assert set(vars(adapter)) == {"profile", "log", "_owners"} and not adapter._owners._by_path


def test_overwrite_rule_is_apks() -> None:
    """apk-tools 2.x's order: same name or origin take the file; then `replaces` and their
    priorities; else a conflict. Directories are no one's."""
    from bootstrap.adapters.apk.owners import Owner, Owners, takes_over

    old = Owner("busybox", "1.36", "busybox")
    assert takes_over(old, Owner("busybox", "1.37")) is True
    assert takes_over(old, Owner("busybox-extras", origin="busybox")) is True
    assert takes_over(old, Owner("coreutils", replaces=frozenset({"busybox"}))) is True
    assert takes_over(old, Owner("coreutils")) is None
    keeper = Owner("keeper", replaces=frozenset({"coreutils"}))
    assert takes_over(keeper, Owner("coreutils")) is False
    both = Owner("coreutils", replaces=frozenset({"keeper"}), priority=1)
    assert takes_over(keeper, both) is True
    owners = Owners()
    owners.record_installed("P:busybox\nV:1.36\no:busybox\nF:bin\nR:busybox\n\n")
    skip = owners.skipper(Owner("coreutils", "9.4"))
    assert skip("bin", "dir") is False and skip("usr/bin/ls", "file") is False
    with pytest.raises(UnpackError, match=r"trying to overwrite bin/busybox owned by busybox-1\.36"):
        skip("bin/busybox", "file")
