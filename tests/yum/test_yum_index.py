"""repomd/primary/filelists/comps parsing on real repositories, rich dependencies, and resolving
CentOS Stream 9 BaseOS `@core` + `bash` with the real metadata (no package downloaded)."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from bootstrap.adapters.yum.primary import parse_filelists, parse_primary, parse_primary_db, unmet_file_deps
from bootstrap.adapters.yum.repomd import (
    RepoMd,
    decompress,
    decompress_stream,
    expand_groups,
    parse_comps,
    parse_repomd,
)
from bootstrap.adapters.yum.richdep import conflict, conflict_atoms, requirement
from bootstrap.adapters.yum.version import rpm_version_scheme
from bootstrap.errors import RepositoryIndexError
from bootstrap.types import Package, Relation


def _repo(realdata: Path, name: str) -> tuple[Path, RepoMd]:
    top = realdata / "yum" / name
    return top, parse_repomd((top / "repodata" / "repomd.xml").read_bytes())


def _load(top: Path, md: RepoMd, kind: str = "primary") -> list[Package]:
    entry = md.files[kind]
    data = (top / entry.href).read_bytes()
    assert entry.checksum is not None
    assert hashlib.new(entry.checksum.algo, data).hexdigest() == entry.checksum.hexdigest
    if kind == "primary_db":
        return parse_primary_db(decompress(data, entry.href), "http://mirror/repo/", "r")
    return parse_primary(decompress_stream(data, entry.href), "http://mirror/repo/", "r")


def _primary_algo(realdata: Path, name: str) -> str:
    checksum = _repo(realdata, name)[1].files["primary"].checksum
    assert checksum is not None
    return checksum.algo


def test_checksum_types_sha_sha1_sha256(realdata: Path) -> None:
    assert _primary_algo(realdata, "libzypp-opensuse-11.0-update-signed") == "sha1"
    assert _primary_algo(realdata, "librepo-fc16-i686-signed") == "sha1"
    assert _primary_algo(realdata, "cs9-baseos-x86_64-2022") == "sha256"


@pytest.mark.parametrize("name,count", [("cs9-baseos-x86_64-2022", 1125), ("osbuild-custom-zst", 1),
                                        ("libzypp-opensuse-11.0-update-signed", 2266),
                                        ("librepo-fc16-i686-signed", 1)])
def test_primary_compressions(realdata: Path, name: str, count: int) -> None:
    top, md = _repo(realdata, name)
    assert len(_load(top, md)) == count


def test_real_fc16_package_record(realdata: Path) -> None:
    top, md = _repo(realdata, "librepo-fc16-i686-signed")
    (pkg,) = _load(top, md)
    assert pkg.key == "filesystem=2.4.44-1.fc16.i686"
    assert pkg.location == "http://mirror/repo/filesystem-2.4.44-1.fc16.i686.rpm"
    rpm = (top / "filesystem-2.4.44-1.fc16.i686.rpm").read_bytes()
    assert pkg.checksums[0].algo == "sha1"
    assert pkg.checksums[0].hexdigest == hashlib.sha1(rpm).hexdigest()
    assert (Relation("setup"),) in pkg.depends
    assert not any(r.name.startswith("rpmlib(") for d in pkg.depends for r in d)


def test_primary_sqlite_matches_xml(realdata: Path) -> None:
    top, md = _repo(realdata, "librepo-archer-sha256")
    (xml,) = _load(top, md)
    (db,) = _load(top, md, "primary_db")
    assert (xml.key, xml.location, xml.checksums) == (db.key, db.location, db.checksums)
    assert set(xml.depends) == set(db.depends) and set(xml.provides) == set(db.provides)
    assert xml.version == "2:3.4.5-6"
    assert {d[0] for d in xml.depends} >= {Relation("fooa", "<=", "2"), Relation("foob", ">=", "1.0.0-1"),
                                           Relation("food", "<", "4"), Relation("fooe", ">", "5")}


def test_pre_requires_and_conflicts(realdata: Path) -> None:
    top, md = _repo(realdata, "cs9-baseos-x86_64-2022")
    mm = next(p for p in _load(top, md) if p.name == "ModemManager")
    assert (Relation("/bin/sh"),) in mm.pre_depends and (Relation("systemd"),) in mm.pre_depends
    assert Relation("glib2(x86-64)", "<", "2.68.4") in mm.conflicts
    assert "usr/bin/mmcli" not in mm.files and "/usr/bin/mmcli" in mm.files


def test_xml_base_locations() -> None:
    xml = b"""<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common"
      xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
      <package type="rpm"><name>a</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
        <checksum type="sha" pkgid="YES">AA</checksum><location xml:base="http://other/base/" href="RPMS/a.rpm"/>
        <format><rpm:requires><rpm:entry name="rpmlib(PayloadFilesHavePrefix)" flags="LE" ver="4.0-1"/>
        <rpm:entry name="(b or c)"/><rpm:entry name="(d if e)"/></rpm:requires></format></package>
      <package type="rpm"><name>a</name><arch>src</arch><version ver="1" rel="1"/></package>
    </metadata>"""
    (pkg,) = parse_primary(io.BytesIO(xml), "http://mirror/x", "r")
    assert pkg.location == "http://other/base/RPMS/a.rpm"
    assert pkg.checksums[0].algo == "sha1" and pkg.checksums[0].hexdigest == "aa"
    assert pkg.depends == ((Relation("b"), Relation("c")), (Relation("d"), Relation("e", negated=True)))


@pytest.mark.parametrize("text,expected", [
    ("(a or b)", [("a", "b")]),
    ("(a and b)", [("a",), ("b",)]),
    ("(a >= 1.0 and (b or c))", [("a",), ("b", "c")]),
    ("((a and b) or c)", [("a", "c"), ("b", "c")]),
    ("(a if b)", [("a", "!b")]),
    ("(a if b else c)", [("a", "!b"), ("c", "b")]),
    ("(a unless b)", [("a",), ("!b",)]),
    ("(a unless b else c)", [("a", "c"), ("a", "b"), ("!b", "c")]),
    ("(a with b)", [("a+b",)]),
    ("(a without b)", [("a+!b",)]),
    ("(a with (b or c))", [("a+b", "a+c")]),
    ("(cockpit-packagekit if dnf)", [("cockpit-packagekit", "!dnf")]),
    ("(python3dist(x) with python3dist(x) < 2)", [("python3dist(x)+python3dist(x)",)]),
])
def test_rich_dependencies(text: str, expected: list[tuple[str, ...]]) -> None:
    """`!` a negated relation, `+` the relations narrowing it (rpm's with/without)."""
    def word(r: Relation) -> str:
        return "!" * r.negated + "+".join([r.name, *(word(n) for n in r.narrow)])

    assert [tuple(word(r) for r in clause) for clause in requirement(text)] == expected


def test_rich_conflicts() -> None:
    """A rich Conflicts is the requirement of its negation, as libsolv reads it."""
    assert conflict("(a or b)") == ([Relation("a"), Relation("b")], [])
    assert conflict("(a and b)") == ([], [(Relation("a", negated=True), Relation("b", negated=True))])


def test_rich_versions_and_conflicts() -> None:
    (clause,) = requirement("(selinux-policy >= 34.1.22-1.el9 or foo)")
    assert clause[0] == Relation("selinux-policy", ">=", "34.1.22-1.el9")
    assert conflict_atoms("(a or b)") == [Relation("a"), Relation("b")]
    assert conflict_atoms("(a and b)") == []


def test_comps_groups(realdata: Path) -> None:
    top, md = _repo(realdata, "cs9-baseos-x86_64-2022")
    comps = parse_comps(decompress((top / md.files["group_gz"].href).read_bytes(), md.files["group_gz"].href))
    core = expand_groups(["@core"], comps)
    assert {"bash", "coreutils", "rpm", "dnf", "systemd"} <= set(core)
    assert "tmux" not in core  # an anaconda-tools member, not core
    assert expand_groups(["bash", "@core"], comps)[0] == "bash"
    with pytest.raises(RepositoryIndexError):
        expand_groups(["@no-such-group"], comps)
    el6 = realdata / "yum" / "createrepo_c-additional-metadata-el6"
    md6 = parse_repomd((el6 / "repodata" / "repomd.xml").read_bytes())
    comps6 = parse_comps((el6 / md6.files["group"].href).read_bytes())
    assert "base-x" in comps6.environments["gnome-desktop-environment"]


def test_filelists_only_wanted_paths(realdata: Path) -> None:
    top, md = _repo(realdata, "cs9-baseos-x86_64-2022")
    packages = _load(top, md)
    unmet = unmet_file_deps(packages)
    assert "/bin/sh" not in unmet  # bash Provides: /bin/sh
    entry = md.files["filelists"]
    owners = parse_filelists(decompress_stream((top / entry.href).read_bytes(), entry.href), unmet | {"/usr/bin/bash"})
    bash = next(p for p in packages if p.name == "bash")
    assert "/usr/bin/bash" in owners[bash.checksums[0].hexdigest]


def test_resolve_core_and_bash_on_centos_stream9(realdata: Path) -> None:
    from bootstrap.resolve import resolve

    top, md = _repo(realdata, "cs9-baseos-x86_64-2022")
    packages = _load(top, md)
    comps = parse_comps(decompress((top / md.files["group_gz"].href).read_bytes(), ".gz"))
    names = expand_groups(["@core", "bash"], comps)
    result = resolve(packages, [(Relation(n),) for n in names], rpm_version_scheme("x86_64"))
    chosen = {p.name: p for p in result.packages}
    assert {"bash", "glibc", "systemd", "rpm", "dnf", "centos-stream-release", "filesystem"} <= set(chosen)
    assert all(p.arch in ("x86_64", "noarch") for p in result.packages)  # no multilib i686
    assert chosen["bash"].version == "5.1.8-2.el9"
    assert result.why("bash")  # the resolver can say why each one is there


def test_bad_repomd() -> None:
    with pytest.raises(RepositoryIndexError):
        parse_repomd(b"<html>not found</html>")
    with pytest.raises(RepositoryIndexError):
        parse_primary(io.BytesIO(b"<metadata><package"), "u")


def test_signed_repomd_of_real_fedora16_repo(realdata: Path, tmp_path: Path) -> None:
    """repomd.xml.asc checked where the repository has one; a signature by another key fails."""
    import shutil

    from bootstrap.adapters.yum.adapter import YumAdapter
    from bootstrap.errors import VerificationError
    from bootstrap.fetch import Fetcher
    from bootstrap.types import Repository

    top = realdata / "yum" / "librepo-fc16-i686-signed"
    key = str(top / "repodata" / "repomd.xml.key")
    logs: list[str] = []
    repo = Repository("fedora", "yum", top.as_uri() + "/", keyrings=(key,))
    (pkg,) = YumAdapter().load(repo, "i686", Fetcher(tmp_path / "cache"), logs.append).packages
    assert pkg.name == "filesystem" and any("repomd.xml signature verified" in line for line in logs)
    bad = tmp_path / "bad"
    shutil.copytree(top / "repodata", bad / "repodata")
    shutil.copy(bad / "repodata" / "repomd.xml.asc.bad", bad / "repodata" / "repomd.xml.asc")
    with pytest.raises(VerificationError):
        YumAdapter().load(Repository("fedora", "yum", bad.as_uri() + "/", keyrings=(key,)), "i686",
                          Fetcher(tmp_path / "cache"), logs.append)
