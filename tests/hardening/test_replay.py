"""A freeze or replay attacker on the mirror, through the command line, for every family: what
can be done with content that carries a VALID old signature (an expired or future-dated
Release, an index older than the one this cache saw, apt's Release.gpg kept from another
Release), and with signatures stripped (InRelease, repomd.xml.asc, .SIGN.RSA, an rpm's
signature header, an apk's signature stream).

Each case is one run of `rootfs-bootstrap resolve` (or a build in mode extract for packages)
against a mirror made here with the family's real tools and served on 127.0.0.1, with a cache of
the case's own. Each refusal is one `error:` line, exit 4 (3 for a checksum), no traceback, and
a hint; what was refused before is accepted again on the hint's way out.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.apk.apkrepo import ApkSpec, Key, make_apk, make_index
from tests.apk.apkrepo import make_key as make_apk_key
from tests.apk.test_apk_replay import split_gzip_streams
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.apt.test_apt_replay import rfc2822
from tests.server import Server
from tests.yum.test_yum_replay import TOOLS, Signer, publish, tiny_rpm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("apt-ftparchive", "openssl", *TOOLS)),
                                reason="needs apt-ftparchive, openssl, createrepo_c, rpmbuild, rpmsign, gpg")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, **(env or {})})


def refused(done: subprocess.CompletedProcess[str], code: int, pattern: str) -> str:
    """The one `error:` line of a refused run (matching `pattern`), after its exit code and hint."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == code, done.stderr
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert "\nhint: " in done.stderr, done.stderr
    return errors[0]


def hint_path(done: subprocess.CompletedProcess[str]) -> Path:
    """The state file a rollback refusal names (removing it accepts the rollback)."""
    match = re.search(r"remove (\S+\.json)", done.stderr)
    assert match, done.stderr
    return Path(match[1])


def days(n: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=n)


# --- apt --------------------------------------------------------------------------------------

@dataclass
class AptKit:
    debs: list[Path]
    home: Path
    keyring: Path


@pytest.fixture(scope="module")
def apt_kit(tmp_path_factory: pytest.TempPathFactory) -> AptKit:
    work = tmp_path_factory.mktemp("apt-replay")
    debs = [build_deb(Deb("hello", "1.0", files={"usr/bin/hello": b"#!/bin/sh\n"}), work)]
    return AptKit(debs, work / "gnupg", make_key(work / "gnupg"))


def apt_resolve(kit: AptKit, url: str, cache: Path, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    return run("resolve", "debian-bookworm", "--mirror", url, "--keyring", str(kit.keyring), "--cache-dir",
               str(cache), "--variant", "custom", "--include", "hello", env=env)


def apt_publish(kit: AptKit, top: Path, date: datetime, valid_until: datetime | None = None) -> Path:
    build_repo(top, kit.debs, kit.home, date=rfc2822(date), valid_until=rfc2822(valid_until) if valid_until else None)
    return top / "dists" / "bookworm"


def _apt_stale(kit: AptKit, top: Path, url: str, cache: Path) -> None:
    apt_publish(kit, top, days(-10), days(-3))


def _apt_future(kit: AptKit, top: Path, url: str, cache: Path) -> None:
    apt_publish(kit, top, days(1))


def _apt_stripped(kit: AptKit, top: Path, url: str, cache: Path) -> None:
    dist = apt_publish(kit, top, days(-1))
    (dist / "InRelease").unlink()
    (dist / "Release.gpg").unlink()


def _apt_bare_inrelease(kit: AptKit, top: Path, url: str, cache: Path) -> None:
    dist = apt_publish(kit, top, days(-1))
    shutil.copy(dist / "Release", dist / "InRelease")
    (dist / "Release.gpg").unlink()


def _apt_other_release_gpg(kit: AptKit, top: Path, url: str, cache: Path) -> None:
    signature = (apt_publish(kit, top, days(-2)) / "Release.gpg").read_bytes()
    dist = apt_publish(kit, top, days(-1))
    (dist / "InRelease").unlink()
    (dist / "Release.gpg").write_bytes(signature)


APT_REFUSALS: dict[str, tuple[Callable[[AptKit, Path, str, Path], None], str]] = {
    "Valid-Until past": (_apt_stale, r"^error: Release file for http://127\.0\.0\.1:\d+/dists/bookworm/ is expired "
                                     r"\(invalid since .* UTC\)$"),
    "Date a day ahead": (_apt_future, r"is not valid yet \(its Date, .* UTC, is 23h 59min ahead of this "
                                      r"machine's clock\)$"),
    "no InRelease, no Release.gpg": (_apt_stripped, r"Release is not signed \(no InRelease, no Release\.gpg\)$"),
    "InRelease without its signature": (_apt_bare_inrelease, r"InRelease: no OpenPGP signature found$"),
    "Release.gpg of another Release": (_apt_other_release_gpg, r"Release: BAD signature by key"),
}


@pytest.mark.parametrize("case", sorted(APT_REFUSALS))
def test_apt_refusals(apt_kit: AptKit, tmp_path: Path, case: str) -> None:
    setup, pattern = APT_REFUSALS[case]
    top = tmp_path / "mirror"
    top.mkdir()
    with Server(top) as server:
        setup(apt_kit, top, server.url, tmp_path / "cache")
        refused(apt_resolve(apt_kit, server.url, tmp_path / "cache"), 4, pattern)


@pytest.mark.parametrize("inrelease", [True, False], ids=["InRelease", "Release+Release.gpg"])
@pytest.mark.parametrize("epoch", ["", "0", "4102444800"], ids=["no-SDE", "SDE-1970", "SDE-2100"])
def test_apt_rollback(apt_kit: AptKit, tmp_path: Path, inrelease: bool, epoch: str) -> None:
    """An older validly signed Release than this cache saw; SOURCE_DATE_EPOCH changes nothing."""
    top, cache = tmp_path / "mirror", tmp_path / "cache"
    top.mkdir()
    env = {"SOURCE_DATE_EPOCH": epoch} if epoch else None
    with Server(top) as server:
        for age in (-1, -5):
            dist = apt_publish(apt_kit, top, days(age))
            if not inrelease:
                (dist / "InRelease").unlink()
            done = apt_resolve(apt_kit, server.url, cache, env)
            if age == -1:
                assert done.returncode == 0, done.stderr
        refused(done, 4, r"^error: the Release of http://127\.0\.0\.1:\d+/dists/bookworm/ is older than the one "
                         r"this cache saw \(Date .* UTC < .* UTC\)$")
        hint_path(done).unlink()  # the hint's way to accept it
        assert apt_resolve(apt_kit, server.url, cache, env).returncode == 0


# --- yum --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def yum_kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, Path]:
    work = tmp_path_factory.mktemp("yum-replay")
    signer = Signer(work / "gnupg")
    rpm = tiny_rpm(work)
    signer.sign_rpm(rpm)
    return signer, rpm


def yum_cli(signer: Signer, url: str, cache: Path, *build: str) -> subprocess.CompletedProcess[str]:
    """`resolve centos4.3` (or a build in mode extract with `build` = -o OUT) of tiny."""
    args = ["centos4.3", "--mirror", url, "--keyring", str(signer.public), "--cache-dir", str(cache),
            "--variant", "custom", "--include", "tiny"]
    return run(*(args + ["--mode", "extract", *build] if build else ["resolve", *args]))


@pytest.mark.parametrize("case", ["revision", "timestamp", "asc stripped", "asc of another repomd"])
def test_yum_index_refusals(yum_kit: tuple[Signer, Path], tmp_path: Path, case: str) -> None:
    signer, rpm = yum_kit
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    repo = mirror / "4.3" / "os" / "i386"
    first = ("4000000000", True) if case == "timestamp" else ("1700000200", True)
    publish(repo, [rpm], signer, *first)
    with Server(mirror) as server:
        assert yum_cli(signer, server.url, cache).returncode == 0
        if case == "revision":
            publish(repo, [rpm], signer, "1700000100", stamp=True)
            pattern = r"^error: repository base: .*/repomd\.xml is older than .* \(revision 1700000100 < 1700000200\)$"
        elif case == "timestamp":
            publish(repo, [rpm], signer, "4000000001")  # a higher revision, files made now
            pattern = r"is older than the one this cache saw \(timestamp .* < 2096-10-02 07:06:40 UTC\)$"
        elif case == "asc stripped":
            publish(repo, [rpm], None, "1700000100", stamp=True)
            pattern = r"comes without repomd\.xml\.asc, but this cache saw it signed; the signature may have been"
        else:
            publish(repo, [rpm], signer, "1700000300", stamp=True)
            asc = (repo / "repodata" / "repomd.xml.asc").read_bytes()
            publish(repo, [rpm], signer, "1700000400", stamp=True)
            (repo / "repodata" / "repomd.xml.asc").write_bytes(asc)
            pattern = r"BAD signature"
        done = yum_cli(signer, server.url, cache)
        refused(done, 4, pattern)
        if case in ("revision", "timestamp", "asc stripped"):
            hint_path(done).unlink()
            assert yum_cli(signer, server.url, cache).returncode == 0


def test_yum_rpm_signature_stripped(yum_kit: tuple[Signer, Path], tmp_path: Path) -> None:
    """gpgcheck=1: an rpm stripped with `rpmsign --delsign` and indexed again (CentOS's repomd is
    unsigned, so whoever serves it can) is refused at the fetch phase; nothing is written."""
    signer, rpm = yum_kit
    bare = tmp_path / rpm.name
    shutil.copy(rpm, bare)
    subprocess.run(["rpmsign", "--delsign", str(bare)], check=True, capture_output=True)
    mirror = tmp_path / "mirror"
    publish(mirror / "4.3" / "os" / "i386", [bare], None, "1")
    out = tmp_path / "out.tar"
    with Server(mirror) as server:
        done = yum_cli(signer, server.url, tmp_path / "cache", "-o", str(out))
    refused(done, 4, r"^error: package tiny-1\.0-1\.noarch is not signed, and its repository asks for signed "
                     r"packages$")
    assert not out.exists()


# --- apk --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apk_key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return make_apk_key(tmp_path_factory.mktemp("apk-replay") / "keys")


def apk_mirror(top: Path, key: Key, mtime: int = 1700000000) -> Path:
    """v3.17/{main,community}/x86_64 with a package `tiny` in main, both indexes signed."""
    main = top / "v3.17" / "main" / "x86_64"
    if not main.is_dir():
        make_apk(ApkSpec("tiny", "1.0-r0", files={"etc": ("dir",), "etc/tiny": b"tiny\n"}), key, main)
    make_index(main, key, mtime=mtime)
    (top / "v3.17" / "community" / "x86_64").mkdir(parents=True, exist_ok=True)
    make_index(top / "v3.17" / "community" / "x86_64", key, mtime=mtime)
    return main


def apk_cli(key: Key, url: str, cache: Path, *build: str) -> subprocess.CompletedProcess[str]:
    args = ["alpine3.17", "--arch", "x86_64", "--mirror", url, "--keyring", str(key.public), "--cache-dir",
            str(cache), "--variant", "custom", "--include", "tiny"]
    return run(*(args + ["--mode", "extract", *build] if build else ["resolve", *args]))


def test_apk_index_rollback(apk_key: Key, tmp_path: Path) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    apk_mirror(mirror, apk_key, 1685173753)
    with Server(mirror) as server:
        assert apk_cli(apk_key, server.url, cache).returncode == 0
        make_index(mirror / "v3.17" / "main" / "x86_64", apk_key, mtime=1669068262)  # main rolled back
        done = apk_cli(apk_key, server.url, cache)
        refused(done, 4, r"^error: the APKINDEX at http://127\.0\.0\.1:\d+/v3\.17/main/x86_64/APKINDEX\.tar\.gz is "
                         r"older than the one this cache saw \(build time 2022-11-21 22:04:22 UTC < "
                         r"2023-05-27 07:49:13 UTC\)$")
        hint_path(done).unlink()
        assert apk_cli(apk_key, server.url, cache).returncode == 0


def test_apk_index_signature_stripped(apk_key: Key, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    index = apk_mirror(mirror, apk_key) / "APKINDEX.tar.gz"
    index.write_bytes(b"".join(split_gzip_streams(index.read_bytes(), "x")[1:]))
    with Server(mirror) as server:
        refused(apk_cli(apk_key, server.url, tmp_path / "cache"), 4,
                r"^error: APKINDEX of http://.*/v3\.17/main is not signed$")


@pytest.mark.parametrize("case", ["stripped", "stripped, then indexed"])
def test_apk_package_signature_stripped(apk_key: Key, tmp_path: Path, case: str) -> None:
    """Stripped from a package the signed index lists: refused (its size, and its C:, are the
    signed package's). Stripped before a held key signed the index over it: taken on that index's
    C:, as apk-tools takes it, with a notice line (the adapter's tests refuse an altered one)."""
    mirror = tmp_path / "mirror"
    main = apk_mirror(mirror, apk_key)
    apk = main / "tiny-1.0-r0.apk"
    apk.write_bytes(b"".join(split_gzip_streams(apk.read_bytes(), "x")[1:]))
    if case != "stripped":
        apk_mirror(mirror, apk_key)
    out = tmp_path / "out.tar"
    with Server(mirror) as server:
        done = apk_cli(apk_key, server.url, tmp_path / "cache", "-o", str(out))
    if case == "stripped":
        refused(done, 3, r"^error: http://.*/tiny-1\.0-r0\.apk: size mismatch: expected \d+ bytes, the server "
                         r"announces \d+$")
        assert not out.exists()
    else:
        assert done.returncode == 0, done.stderr
        assert "notice: package tiny-1.0-r0.apk is not signed; accepted: the verified index vouches for it" \
            in done.stderr
        assert out.is_file()
