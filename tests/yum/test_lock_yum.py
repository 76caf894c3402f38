"""Lock files on a vault-shaped yum mirror (rpmbuild, rpmsign, createrepo_c) on 127.0.0.1: the
scenarios of tests/lockflow.py, in mode root (hello's %post runs in the chroot). The packages
are built once; each test gets its own mirror of them, since refresh and the removed-package
scenario change it."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import lockflow
from tests.server import Server
from tests.yum.yumrepo import HELLO, HELLO_C, SETUP, _build, _key, _need_tools, _run, _sign


@dataclass(frozen=True)
class Rpms:
    setup: Path
    hello: Path
    newer: Path
    key: Path


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> Rpms:
    _need_tools()
    work = tmp_path_factory.mktemp("lock-rpms")
    (work / "hello.c").write_text(HELLO_C)
    binary = work / "hello"
    _run(["gcc", "-m32", "-static", "-O2", "-o", str(binary), str(work / "hello.c")])
    fpr, pub = _key(work / "gnupg", "Lock Test <lock@test.invalid>")
    built = [_build(work, "setup", "2.5", "noarch", SETUP, "w9.gzdio", binary),
             _build(work, "hello", "0.9", "i686", HELLO, "w9.gzdio", binary),
             _build(work, "hello", "1.0", "i686", HELLO, "w9.gzdio", binary)]
    for rpm in built:
        _sign(rpm, work / "gnupg", fpr)
    return Rpms(built[0], built[1], built[2], pub)


def _repo(top: Path, repo: str, files: list[Path]) -> Path:
    where = top / "4.3" / repo / "i386"
    (where / "RPMS").mkdir(parents=True, exist_ok=True)
    for rpm in files:
        shutil.copy(rpm, where / "RPMS" / rpm.name)
    _run(["createrepo_c", "--checksum", "sha256", str(where)])
    return where


@pytest.fixture
def family(rpms: Rpms, tmp_path: Path) -> Iterator[lockflow.Family]:
    top = tmp_path / "vault"
    _repo(top, "os", [rpms.setup, rpms.hello])
    _repo(top, "updates", [])

    def upgrade() -> str:
        _repo(top, "updates", [rpms.newer])
        return "1.0-1"

    def remove(name: str) -> None:
        for rpm in top.glob(f"4.3/*/i386/RPMS/{name}-*.rpm"):
            rpm.unlink()

    with Server(top) as server:
        yield lockflow.Family("centos4.3", ["--mirror", server.url, "--keyring", str(rpms.key)],
                              ["--variant", "custom", "--include", "hello"], "hello", upgrade, remove, rpms.key)


def test_two_builds_of_one_lock_are_identical(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.two_builds_identical(family, tmp_path / "t")


def test_refresh_exits_0_then_10_after_an_upgrade(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.refresh_no_change_then_upgrade(family, tmp_path / "t")


def test_removed_package_builds_from_cache_and_store(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.removed_package(family, tmp_path / "t")


def test_tampered_lock_and_offline(family: lockflow.Family, tmp_path: Path) -> None:
    def tamper(doc: dict) -> tuple[str, str]:
        pkg = next(p for p in doc["packages"] if p["name"] == "hello")
        pkg["checksums"] = {algo: "0" * len(digest) for algo, digest in pkg["checksums"].items()}
        return "hello", "mismatch"

    lockflow.tampered_and_offline(family, tmp_path / "t", tamper)


def test_same_bytes_as_root_without_pigz_and_as_nobody(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.same_bytes_everywhere(family, tmp_path / "t")
