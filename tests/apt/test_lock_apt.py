"""Lock files on a Debian-shaped test archive (dpkg-deb, apt-ftparchive, gpg) on 127.0.0.1: the
scenarios of tests/lockflow.py. Each test gets its own archive, since refresh and the
removed-package scenario change it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import lockflow
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")


def _debs() -> list[Deb]:
    return [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes",
                                 "Maintainer": "Test Maintainer <tm@example.invalid>"},
            files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
            symlinks={"/bin/sh": "busybox"}),
        Deb("hello", fields={"Depends": "libhello (>= 1.0)"}, files={"/usr/bin/hello": b"#!/bin/sh\necho hi\n"},
            modes={"/usr/bin/hello": 0o755}),
        Deb("libhello", "1.0", files={"/usr/lib/libhello.so.1": b"v1"}),
    ]


@pytest.fixture
def family(tmp_path: Path) -> Iterator[lockflow.Family]:
    work = tmp_path / "archive"
    keyring = make_key(work / "gnupg")
    mirror = work / "mirror"
    build_repo(mirror, [build_deb(d, work / "debs") for d in _debs()], work / "gnupg")

    def upgrade() -> str:
        build_repo(mirror, [build_deb(Deb("hello", "1.1", fields={"Depends": "libhello (>= 1.0)"},
                                          files={"/usr/bin/hello": b"#!/bin/sh\necho hi 1.1\n"},
                                          modes={"/usr/bin/hello": 0o755}), work / "debs2")], work / "gnupg")
        return "1.1"

    def remove(name: str) -> None:
        for deb in (mirror / "pool" / "main").glob(f"{name}_*.deb"):
            deb.unlink()

    with Server(mirror) as server:
        yield lockflow.Family("debian-bookworm", ["--mirror", server.url, "--keyring", str(keyring)],
                              ["--variant", "custom", "--include", "tiny-base,hello"], "hello", upgrade, remove,
                              keyring, mode="extract")


def test_two_builds_of_one_lock_are_identical(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.two_builds_identical(family, tmp_path / "t")


def test_refresh_exits_0_then_10_after_an_upgrade(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.refresh_no_change_then_upgrade(family, tmp_path / "t")


def test_removed_package_builds_from_cache_and_store(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.removed_package(family, tmp_path / "t")


def test_tampered_lock_and_offline(family: lockflow.Family, tmp_path: Path) -> None:
    def tamper(doc: dict) -> tuple[str, str]:
        pkg = next(p for p in doc["packages"] if p["name"] == "hello")
        pkg["checksums"] = {"sha256": "0" * 64}
        return "hello", "mismatch"

    lockflow.tampered_and_offline(family, tmp_path / "t", tamper)


def test_same_bytes_as_root_without_pigz_and_as_nobody(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.same_bytes_everywhere(family, tmp_path / "t")
