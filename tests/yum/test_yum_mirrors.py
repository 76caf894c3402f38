"""yum mirrors that cannot serve the build, told apart: a host that cannot be reached (by name
and reason, "trying the next mirror" only when there is one), a tree without the target's
architecture (what the mirror has instead, from its listing), a tree whose packages are all
of another architecture; the hint names --mirror URL, $ROOTFS_BOOTSTRAP_CENTOS_MIRROR and
the layout. And package signatures checked against a directory of keys. Against the
vault-shaped mirror on 127.0.0.1 (tests/yum/yumrepo.py) and a `.invalid` name (RFC 2606)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.yum.adapter import YumAdapter
from bootstrap.errors import FetchError, RepositoryNotFound, Unreachable
from bootstrap.fetch import Fetcher
from bootstrap.types import FetchItem, Repository
from tests.server import free_port
from tests.yum.yumrepo import Vault

REPO = Path(__file__).resolve().parents[2]
LAYOUT = "URL/4.3/os/i386/repodata/repomd.xml"


def _base(*mirrors: str, arch: str | None = None, **overrides: object) -> Repository:
    profile = config.load_profile("centos4.3", config.Overrides(
        arch=arch, mirror=mirrors[0], alternate_mirrors=mirrors[1:], **overrides), environ={})  # type: ignore[arg-type]
    return profile.repositories[0]


def _load(repo: Repository, arch: str, tmp_path: Path, log: list[str]) -> object:
    return YumAdapter().load(repo, arch, Fetcher(tmp_path / "cache", retries=0), log.append)


def test_the_unreachable_vault_of_the_issue(tmp_path: Path) -> None:
    """$ROOTFS_BOOTSTRAP_CENTOS_MIRROR naming a host that does not exist: one error line, the
    hint, and no "trying the next mirror" (there is none)."""
    done = subprocess.run([sys.executable, "-m", "bootstrap", "resolve", "centos7", "--cache-dir",
                           str(tmp_path / "cache")], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "ROOTFS_BOOTSTRAP_CENTOS_MIRROR": "http://vault.centos.invalid"})
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert "error: cannot reach vault.centos.invalid (name resolution failed)" in lines
    assert ("hint: give another mirror with --mirror URL or $ROOTFS_BOOTSTRAP_CENTOS_MIRROR, laid out as "
            "URL/7.9.2009/os/x86_64/repodata/repomd.xml") in lines
    assert "trying the next mirror" not in done.stderr and "repomd.xml at" not in done.stderr


def test_a_refused_mirror_then_the_next_one(vault: Vault, tmp_path: Path) -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    log: list[str] = []
    with pytest.raises(Unreachable) as err:
        _load(_base(refused), "i386", tmp_path, log)
    assert err.value.message == f"cannot reach {refused.removeprefix('http://')} (connection refused)"
    assert err.value.hint == ("give another mirror with --mirror URL or $ROOTFS_BOOTSTRAP_CENTOS_MIRROR, "
                              f"laid out as {LAYOUT}")
    assert not any("trying" in line for line in log)
    log.clear()
    _load(_base(refused, vault.url), "i386", tmp_path, log)  # the second mirror serves it
    assert [line for line in log if "unreachable" in line] == [
        f"base: {refused}/4.3/os/i386/ unreachable (cannot fetch {refused}/4.3/os/i386/repodata/repomd.xml: "
        "Connection refused); trying the next mirror"]


def test_every_mirror_unreachable_is_one_line(tmp_path: Path) -> None:
    refused = f"127.0.0.1:{free_port()}"
    with pytest.raises(FetchError) as err:
        _load(_base(f"http://{refused}", "http://nosuch.invalid"), "i386", tmp_path, [])
    assert err.value.message == (
        f"repository base: none of 2 mirrors served it: http://{refused}/4.3/os/i386/ (cannot reach {refused} "
        "(connection refused)); http://nosuch.invalid/4.3/os/i386/ (cannot reach nosuch.invalid "
        "(name resolution failed))")
    assert LAYOUT in (err.value.hint or "")


def test_a_tree_without_the_arch_says_which_the_mirror_has(vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFound) as err:
        _load(_base(vault.url, arch="x86_64"), "x86_64", tmp_path, [])
    assert err.value.message == f"repository base: no x86_64 tree at {vault.url}/4.3/os/ (the mirror has: i386)"
    assert (err.value.hint or "").startswith("choose one of them with --arch, or give another mirror with --mirror URL")


def test_a_missing_release_lists_what_was_tried(vault: Vault, tmp_path: Path) -> None:
    profile = config.load_profile("centos7", config.Overrides(mirror=vault.url), environ={})
    with pytest.raises(RepositoryNotFound) as err:
        _load(profile.repositories[0], "x86_64", tmp_path, [])
    assert err.value.message == \
        f"repository base: no repodata/repomd.xml at {vault.url}/7.9.2009/os/x86_64/repodata/repomd.xml"
    assert "URL/7.9.2009/os/x86_64/repodata/repomd.xml" in (err.value.hint or "")


def test_a_tree_of_another_arch_only_is_refused(vault: Vault, tmp_path: Path) -> None:
    """An x86_64 directory holding the i386 tree (i686 and i386 packages, no noarch)."""
    tree = tmp_path / "mirror" / "x86_64"
    shutil.copytree(vault.top / "4.3" / "updates" / "i386", tree)
    repo = Repository("updates", "yum", tree.as_uri() + "/")
    with pytest.raises(RepositoryNotFound) as err:
        _load(repo, "x86_64", tmp_path, [])
    assert err.value.message == f"repository updates: {tree.as_uri()}/ has no packages for x86_64 (it has: i386, i686)"
    assert "--arch" in (err.value.hint or "")


@pytest.mark.parametrize("keyring_only", [True, False])
def test_package_signatures_against_a_directory_of_keys(vault: Vault, tmp_path: Path, keyring_only: bool) -> None:
    """/etc/pki/rpm-gpg as a folder: the vault's key as RPM-GPG-KEY-vault, and files that are
    not keys; with or without the shipped CentOS key beside it."""
    keys = tmp_path / "rpm-gpg"
    keys.mkdir()
    shutil.copy(vault.key, keys / "RPM-GPG-KEY-vault")
    (keys / "README").write_text("not a key\n")
    repo = _base(vault.url, keyrings=(str(keys),), keyring_only=keyring_only)
    assert repo.keyrings[-1] == str(keys / "RPM-GPG-KEY-vault") and (len(repo.keyrings) == 1) == keyring_only
    adapter = YumAdapter()
    fetcher = Fetcher(tmp_path / "cache")
    index = adapter.load(repo, "i386", fetcher, lambda line: None)
    setup = next(p for p in index.packages if p.name == "setup")
    path = fetcher.get_file(FetchItem(setup.location, setup.checksums, setup.size))
    adapter.check_payload(setup, path, index.trust)  # the rpm's signature by the vault key
