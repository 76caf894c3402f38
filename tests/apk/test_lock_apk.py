"""Lock files on a CDN-shaped Alpine mirror on 127.0.0.1 (the real 3.16.9 minirootfs as the
seed, signed APKINDEX files): the scenarios of tests/lockflow.py, in mode root (the real apk
of the minirootfs and the package's post-install run in the chroot). The lock pins the
minirootfs tarball too. Each test gets its own mirror, since refresh and the removed-package
scenario change it."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests import lockflow
from tests.apk.apkrepo import make_apk, make_index, make_key
from tests.apk.test_cli_apk import MINI16, _hello, _releases
from tests.server import Server

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chroot") is None,
                                reason="needs root (chroot into the minirootfs)")


@pytest.fixture
def family(realdata: Path, tmp_path: Path) -> Iterator[lockflow.Family]:
    key = make_key(tmp_path / "keys")
    mirror = tmp_path / "mirror"
    _releases(mirror, "v3.16", "x86_64", realdata / "apk" / "minirootfs" / MINI16, yaml=True)
    main, community = mirror / "v3.16" / "main" / "x86_64", mirror / "v3.16" / "community" / "x86_64"
    make_apk(_hello(), key, main)
    make_index(main, key, "v3.16 main (test)")
    community.mkdir(parents=True)
    make_index(community, key, "v3.16 community (test)")

    def upgrade() -> str:
        make_apk(replace(_hello(), version="1.2.4-r0"), key, main)
        make_index(main, key, "v3.16 main (test)", mtime=1700000100)
        return "1.2.4-r0"

    def remove(name: str) -> None:
        for apk in main.glob(f"{name}-*.apk"):
            apk.unlink()

    with Server(mirror) as server:
        yield lockflow.Family("alpine3.16", ["--mirror", server.url, "--keyring", str(key.public)],
                              ["--include", "hello-apk"], "hello-apk", upgrade, remove, key.public)


def test_two_builds_of_one_lock_are_identical(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.two_builds_identical(family, tmp_path / "t")


def test_refresh_exits_0_then_10_after_an_upgrade(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.refresh_no_change_then_upgrade(family, tmp_path / "t")


def test_removed_package_builds_from_cache_and_store(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.removed_package(family, tmp_path / "t")


def test_tampered_lock_and_offline(family: lockflow.Family, tmp_path: Path) -> None:
    def tamper(doc: dict) -> tuple[str, str]:
        pkg = next(p for p in doc["packages"] if p["name"] == "hello-apk")
        pkg["meta"]["fields"] = [[k, "Q1" + "A" * 27 + "=" if k == "C" else v] for k, v in pkg["meta"]["fields"]]
        return "hello-apk", "control checksum"

    lockflow.tampered_and_offline(family, tmp_path / "t", tamper)


def test_same_bytes_as_root_without_pigz_and_as_nobody(family: lockflow.Family, tmp_path: Path) -> None:
    lockflow.same_bytes_everywhere(family, tmp_path / "t")
