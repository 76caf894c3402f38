"""The lock file's text and its Package codec (bootstrap.lock): every field of every family's
packages round-trips, the text is stable with one package per line, and what is not a lock
(of this format) is one clear LockError."""
from __future__ import annotations

import io
import json
from dataclasses import fields, replace
from pathlib import Path

import pytest

from bootstrap.adapters.apk.index import parse_apkindex
from bootstrap.adapters.apt.packages import parse_packages
from bootstrap.adapters.yum.primary import parse_primary
from bootstrap.errors import LockError
from bootstrap.lock import Lock, LockedRepo, LockedSeed, LockOptions, dumps, loads, read_lock, write_lock
from bootstrap.lock.codec import package_from_json, package_to_json
from bootstrap.types import Checksum, IndexStamp, Package, Relation

APT = """Package: libfoo1
Version: 1:2.0-3
Architecture: amd64
Multi-Arch: same
Pre-Depends: libc6 (>= 2.36)
Depends: libbar | libbaz:any (>= 1), zlib1g
Breaks: oldfoo (<< 1.0)
Provides: foo-virtual (= 2)
Priority: optional
Section: libs
Installed-Size: 120
Maintainer: A Person <a@example.invalid>
Filename: pool/main/f/foo/libfoo1_2.0-3_amd64.deb
Size: 4242
SHA256: 0000000000000000000000000000000000000000000000000000000000000001
Description: a library
 with a long description
 .
 over lines
"""

PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>bash</name><arch>x86_64</arch><version epoch="0" ver="4.2.46" rel="34.el7"/>
<checksum type="sha256" pkgid="YES">00ff</checksum><summary>shell</summary><location href="Packages/bash.rpm"/>
<size package="1000" installed="4000" archive="4100"/>
<format><rpm:license>GPLv3+</rpm:license><rpm:vendor>CentOS</rpm:vendor><rpm:provides>
<rpm:entry name="bash" flags="EQ" epoch="0" ver="4.2.46" rel="34.el7"/><rpm:entry name="/bin/sh"/></rpm:provides>
<rpm:requires><rpm:entry name="libc.so.6()(64bit)"/><rpm:entry name="(foo if bar)"/>
<rpm:entry name="/bin/sh" pre="1"/></rpm:requires>
<rpm:conflicts><rpm:entry name="old" flags="LT" epoch="0" ver="1"/></rpm:conflicts>
<rpm:recommends><rpm:entry name="bash-doc"/></rpm:recommends>
<file>/bin/bash</file><file type="dir">/etc/skel</file></format></package></metadata>
"""

APK = """C:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=
P:busybox
V:1.35.0-r17
A:x86_64
S:500000
I:900000
T:Size optimized toolset
L:GPL-2.0-only
m:Sören Tempel <soeren@example.invalid>
D:so:libc.musl-x86_64.so.1
p:/bin/sh cmd:busybox=1.35.0-r17
i:busybox-extras !nothing
k:10

"""


def _family_packages() -> list[Package]:
    apt = parse_packages(APT, base_url="http://m.invalid/debian", repo_id="main")
    yum = parse_primary(io.BytesIO(PRIMARY), "http://m.invalid/centos/7/os/x86_64/", "base")
    apk = parse_apkindex(APK, "http://m.invalid/alpine/v3.16/main", "x86_64", "main")
    return apt + yum + apk


def _same(a: Package, b: Package) -> None:
    for f in fields(Package):
        if f.name != "index_order":
            assert getattr(a, f.name) == getattr(b, f.name), f.name


@pytest.mark.parametrize("pkg", _family_packages(), ids=lambda p: p.key)
def test_every_family_package_round_trips(pkg: Package) -> None:
    again = package_from_json(json.loads(json.dumps(package_to_json(pkg))))
    _same(pkg, again)


def test_relations_of_every_shape_round_trip() -> None:
    rich = Relation("a", narrow=(Relation("b", ">=", "1"), Relation("c", negated=True)))
    pkg = Package("x", "1", "all", depends=((Relation("y"), Relation("z", "<", "2", "any")),),
                  conflict_clauses=((Relation("w", negated=True),),), provides=(rich,),
                  install_if=(Relation("q", negated=True),), essential=True, provider_priority=7)
    _same(pkg, package_from_json(package_to_json(pkg)))


def _lock(packages: tuple[Package, ...]) -> Lock:
    return Lock("debian-bookworm", "apt", "debian", "bookworm", "amd64",
                LockOptions("minbase", include=("hello",), mirrors=("http://m.invalid/debian",)),
                (LockedRepo("main", "http://m.invalid/debian", "bookworm", ("main",), True,
                            IndexStamp("http://m.invalid/debian/dists/bookworm/InRelease", "ab" * 32,
                                       "2026-12-01T10:00:00Z"), signers=("F" * 40,)),
                 LockedRepo("updates", "http://m.invalid/debian", "bookworm-updates", ("main",), present=False)),
                packages, ("hello",),
                LockedSeed("http://m.invalid/seed.tar.gz", (Checksum("sha256", "cd" * 32),), 10, "seed.tar.gz"))


def test_text_is_stable_sorted_one_package_per_line() -> None:
    pkgs = tuple(_family_packages())
    text = dumps(_lock(pkgs))
    assert text == dumps(_lock(tuple(reversed(pkgs))))  # the order given does not matter
    lines = text.splitlines()
    assert sum(1 for line in lines if line.startswith('{"arch"') and '"checksums"' in line) == len(pkgs)
    keys = [line.split('"')[1] for line in lines if line.startswith('"')]
    assert keys == sorted(keys)
    back = loads(text)
    assert back.repositories == _lock(pkgs).repositories and back.seed == _lock(pkgs).seed
    assert back.options == _lock(pkgs).options and back.requests == ("hello",)
    for a, b in zip(sorted(pkgs, key=lambda p: (p.name, p.arch, p.version)), back.packages, strict=True):
        _same(a, b)


def test_write_is_atomic_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    write_lock(path, _lock(()))
    assert read_lock(path) == _lock(())
    assert [p.name for p in tmp_path.iterdir()] == ["x.lock"]


@pytest.mark.parametrize("text, words", [
    ("not json", "not JSON"),
    ('{"kind": "something else"}', "not a rootfs-bootstrap lock"),
    ('{"kind": "rootfs-bootstrap lock", "format": 99}', "format 99"),
    ('{"kind": "rootfs-bootstrap lock", "format": 1}', "malformed"),
])
def test_what_is_not_a_lock_is_one_clear_error(text: str, words: str) -> None:
    with pytest.raises(LockError, match=words):
        loads(text, "x.lock")


def test_a_malformed_package_line_names_the_package() -> None:
    doc = json.loads(dumps(_lock((Package("hello", "1", "amd64", location="http://m.invalid/h.deb"),))))
    doc["packages"][0]["meta"] = {"depends": [[{"nope": 1}]]}
    with pytest.raises(LockError, match="package hello"):
        loads(json.dumps(doc))
    doc["packages"][0]["meta"] = {"no_such_field": 1}
    with pytest.raises(LockError, match="no_such_field"):
        loads(json.dumps(doc))


def test_missing_lock_file_hints_at_the_lock_command(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="no lock file") as err:
        read_lock(tmp_path / "nope.lock")
    assert "rootfs-bootstrap lock" in (err.value.hint or "")


def test_replace_keeps_identity() -> None:
    pkg = _family_packages()[0]
    assert package_from_json(package_to_json(replace(pkg, size=1))).size == 1
