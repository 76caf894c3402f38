"""dpkg's database as we write it, judged by real dpkg.

Fast tests build tiny .debs with dpkg-deb and diff our register() against what
`dpkg --root=T --force-all --unpack` writes for the same packages (status stanza, .list,
.md5sums, scripts, trigger interest files), then let dpkg configure our database.
The slow test configures a real bookworm minbase (debs cached under
/var/cache/rootfs-bootstrap-tests, fetched once with mmdebstrap from the host's mirror) and
checks it as a Debian user would: dpkg --audit silent, every package `ii`, apt-get check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bootstrap.adapters import Installed
from bootstrap.adapters.apt import dpkg_db
from bootstrap.adapters.apt.dpkg_db import info_name
from bootstrap.adapters.apt.packages import parse_packages
from bootstrap.adapters.apt.payload import extract_deb
from bootstrap.adapters.apt.scripts import install_order, services_disabled
from bootstrap.adapters.apt.status import normalize_relations, parse_control, stanza_map
from bootstrap.errors import ConfigureError
from bootstrap.root import Root
from bootstrap.sandbox import ChrootRunner, CommandFailed
from bootstrap.scrub import scrub
from bootstrap.types import Package, Relation

DEBS = Path("/var/cache/rootfs-bootstrap-tests/debs-minbase")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None,
                                reason="needs dpkg and dpkg-deb")

FOO_CONTROL = """Package: foo
Source: foo-src (1.0-0)
Version: 1.0-1
Architecture: amd64
Maintainer: Test <t@example.org>
Installed-Size: 10
Essential: yes
Protected: yes
Depends: libc6 (>= 2.34), bar|baz (>>1),  qux:any
Pre-Depends: dpkg (>= 1.19)
Recommends: r1
Suggests: s1 (<< 2)
Breaks: old (<< 0.9)
Conflicts: c1
Replaces: old (<< 0.9)
Provides: foo-virtual (= 1.0)
Enhances: e1
Section: misc
Priority: optional
Multi-Arch: same
Homepage: https://example.org
X-Custom-Field: kept as is
Important: yes
Description: test package
 Longer text.
 .
 More.
"""
BAR_CONTROL = """Package: bar
Version: 2:0.5
Architecture: all
Maintainer: Test <t@example.org>
Essential: no
Multi-Arch: foreign
Description: second package
"""


def _made(path: Path) -> Root:
    """The handle on a new root directory (a Root is a directory that exists)."""
    path.mkdir(parents=True, exist_ok=True)
    return Root(path)


def _build(tmp: Path, name: str, control: str, *, conffile: bool, triggers: str = "") -> Path:
    tree = tmp / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "etc" / name).mkdir(parents=True)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / f"usr/share/doc/{name}").mkdir(parents=True)
    (tree / f"etc/{name}/{name}.conf").write_text("conf=1\n")
    (tree / f"usr/bin/{name}").write_text("#!/bin/sh\necho hi\n")
    (tree / f"usr/bin/{name}").chmod(0o755)
    os.symlink(name, tree / f"usr/bin/{name}2")
    (tree / f"usr/share/doc/{name}/README").write_text("doc\n")
    (tree / "DEBIAN/control").write_text(control)
    if conffile:
        (tree / "DEBIAN/conffiles").write_text(f"/etc/{name}/{name}.conf\n")
    (tree / "DEBIAN/postrm").write_text("#!/bin/sh\nexit 0\n")
    (tree / "DEBIAN/postrm").chmod(0o755)
    if triggers:
        (tree / "DEBIAN/triggers").write_text(triggers)
    files = sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
                   and "DEBIAN" not in p.parts)
    sums = subprocess.run(["md5sum", *[str(p.relative_to(tree)) for p in files]], cwd=tree,
                          capture_output=True, text=True, check=True).stdout
    (tree / "DEBIAN/md5sums").write_text(sums)
    deb = tmp / f"{name}.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "-b", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


def _installed(root: Path, deb: Path) -> Installed:
    from bootstrap.unpack import Unpacker

    control, manifest = extract_deb(Unpacker(root), deb, deb.stem)
    package = parse_packages(control["control"], base_url="file:///", repo_id="t")[0]
    return Installed(package, manifest, control)


@pytest.fixture()
def debs(tmp_path: Path) -> list[Path]:
    return [_build(tmp_path, "foo", FOO_CONTROL, conffile=True,
                   triggers="interest-noawait foo-trig\ninterest /usr/lib/foo\nactivate-noawait ldconfig\n"),
            _build(tmp_path, "bar", BAR_CONTROL, conffile=False, triggers="interest bar-trig\n")]


@pytest.fixture()
def both(tmp_path: Path, debs: list[Path]) -> tuple[Path, Path]:
    """(root dpkg unpacked into, root we registered) for the same two packages."""
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    dpkg_db.prepare_root(_made(theirs), merged_usr=False)
    subprocess.run(["dpkg", f"--root={theirs}", "--force-all", "--unpack", *map(str, debs)],
                   check=True, capture_output=True)
    dpkg_db.prepare_root(_made(ours), merged_usr=False)
    dpkg_db.register(Root(ours), [_installed(ours, deb) for deb in debs], "amd64")
    return theirs, ours


def test_status_stanzas_match_dpkg(both: tuple[Path, Path]) -> None:
    theirs, ours = both
    mine = (ours / "var/lib/dpkg/status").read_text()
    md5 = subprocess.run(["md5sum"], input=b"conf=1\n", capture_output=True).stdout.split()[0].decode()
    assert f" /etc/foo/foo.conf {md5}\n" in mine
    # dpkg says `newconffile` while the file still waits at .dpkg-new; ours is in place.
    assert mine.replace(md5, "newconffile") == (theirs / "var/lib/dpkg/status").read_text()


def test_info_files_and_triggers_match_dpkg(both: tuple[Path, Path]) -> None:
    theirs, ours = both
    for sub in ("info", "triggers"):
        # triggers/Lock is dpkg's run-time lock, made by whichever dpkg runs next.
        names = sorted(n for n in os.listdir(theirs / "var/lib/dpkg" / sub) if n != "Lock")
        assert sorted(n for n in os.listdir(ours / "var/lib/dpkg" / sub)) == names
        for name in names:
            a, b = theirs / "var/lib/dpkg" / sub / name, ours / "var/lib/dpkg" / sub / name
            assert a.read_bytes() == b.read_bytes(), name
            if sub == "info":
                assert oct(a.stat().st_mode) == oct(b.stat().st_mode), name
    assert "foo:amd64.list" in os.listdir(ours / "var/lib/dpkg/info")  # Multi-Arch: same
    assert (ours / "var/lib/dpkg/info/foo:amd64.list").read_text().startswith("/.\n/etc\n")


def test_dpkg_configures_our_database(both: tuple[Path, Path]) -> None:
    _, ours = both
    before = stanza_map((ours / "var/lib/dpkg/status").read_text())
    (ours / "var/lib/dpkg/info/foo:amd64.postrm").unlink()  # no script may need a chroot here
    (ours / "var/lib/dpkg/info/bar.postrm").unlink()
    done = subprocess.run(["dpkg", f"--root={ours}", "--force-depends", "--configure", "-a"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = stanza_map((ours / "var/lib/dpkg/status").read_text())
    assert {k: v.replace("install ok unpacked", "install ok installed") for k, v in before.items()} == after
    audit = subprocess.run(["dpkg", f"--root={ours}", "--audit"], capture_output=True, text=True)
    assert audit.returncode == 0 and audit.stdout == ""


def test_register_keeps_other_packages_sorted_and_replaces_its_own(tmp_path: Path, debs: list[Path]) -> None:
    root = tmp_path / "r"
    dpkg_db.prepare_root(_made(root), merged_usr=False)
    (root / "var/lib/dpkg/status").write_text("Package: zzz\nStatus: install ok installed\n"
                                              "Architecture: all\nVersion: 1\n\n")
    items = [_installed(root, deb) for deb in debs]
    dpkg_db.register(Root(root), items, "amd64")
    dpkg_db.register(Root(root), items, "amd64", status="install ok installed")
    text = (root / "var/lib/dpkg/status").read_text()
    assert [line for line in text.splitlines() if line.startswith("Package:")] == \
        ["Package: bar", "Package: foo", "Package: zzz"]
    assert text.count("install ok installed") == 3 and "unpacked" not in text
    assert (root / "var/lib/dpkg/triggers/foo-trig").read_text() == "foo:amd64/noawait\n"


def test_normalize_relations_like_dpkg() -> None:
    assert normalize_relations("a|b (>>1),c  ( <= 2:1.0 ) , d:any, e (<3)") == \
        "a | b (>> 1), c (<= 2:1.0), d:any, e (<= 3)"
    assert normalize_relations("x (= 0:1.0)") == "x (= 1.0)"
    assert parse_control("A: 1\nB:\n two\n .\nC: 3 \n\nD: ignored\n") == \
        [("A", "1"), ("B", "\n two\n ."), ("C", "3")]


def test_prepare_root_links_like_debootstrap(tmp_path: Path) -> None:
    for arch, extra in (("amd64", {"lib32", "lib64", "libx32"}), ("arm64", set())):
        root = tmp_path / arch
        dpkg_db.prepare_root(_made(root), arch=arch)
        dpkg_db.prepare_root(_made(root), arch=arch)  # idempotent
        links = {p.name for p in root.iterdir() if p.is_symlink()}
        assert links == {"bin", "sbin", "lib"} | extra
        assert all(os.readlink(root / n) == f"usr/{n}" and (root / "usr" / n).is_dir() for n in links)
        assert (root / "var/lib/dpkg/info/format").read_text() == "1\n"
        assert (root / "var/lib/dpkg/status").read_text() == ""
    flat = tmp_path / "flat"
    dpkg_db.prepare_root(_made(flat), merged_usr=False)
    assert not any(p.is_symlink() for p in flat.iterdir())


def _pkg(name: str, pre: tuple[str, ...] = (), deps: tuple[str, ...] = (), essential: bool = False) -> Installed:
    return Installed(Package(name, "1", "all", depends=tuple((Relation(d),) for d in pre + deps),
                             pre_depends=tuple((Relation(d),) for d in pre), essential=essential), [])


def test_install_order_base_passwd_first_then_dependencies_first() -> None:
    items = [_pkg("a", deps=("z",)), _pkg("z", pre=("y",)), _pkg("y"), _pkg("base-passwd", deps=("libc6",)),
             _pkg("libc6", essential=True), _pkg("cyc1", deps=("cyc2",)), _pkg("cyc2", deps=("cyc1",))]
    order = [i.package.name for i in install_order(items)]
    assert order[0] == "base-passwd" and order[1] == "libc6"
    assert order.index("y") < order.index("z") < order.index("a")
    assert sorted(order) == sorted(i.package.name for i in items)


def test_services_disabled_restores_even_on_error(tmp_path: Path) -> None:
    ssd = tmp_path / "usr/sbin/start-stop-daemon"
    ssd.parent.mkdir(parents=True)
    ssd.write_bytes(b"real")
    os.symlink("usr/sbin", tmp_path / "sbin")
    with pytest.raises(RuntimeError), services_disabled(Root(tmp_path)):
        assert (tmp_path / "usr/sbin/policy-rc.d").read_bytes().endswith(b"exit 101\n")
        assert b"fake" in ssd.read_bytes()
        raise RuntimeError
    assert ssd.read_bytes() == b"real" and not (tmp_path / "usr/sbin/policy-rc.d").exists()
    assert sorted(os.listdir(ssd.parent)) == ["start-stop-daemon"]


def test_cleanup(tmp_path: Path) -> None:
    files = ["var/lib/apt/lists/deb_dists_bookworm_InRelease", "var/lib/apt/lists/lock",
             "var/cache/apt/pkgcache.bin", "var/cache/apt/archives/x_1_all.deb", "var/log/dpkg.log",
             "var/log/apt/term.log", "var/log/alternatives.log", "var/cache/debconf/config.dat-old",
             "var/lib/dpkg/status-old", "var/lib/dpkg/status", "tmp/junk/a", "run/x", "run/lock/y",
             "var/cache/debconf/config.dat"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "var/lib/apt/lists/partial").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("0123456789abcdef\n")
    dpkg_db.cleanup(Root(tmp_path))
    scrub(Root(tmp_path))  # what every family's build runs after the family's own cleanup
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir())
    assert left == ["etc/machine-id", "run/lock/y", "var/cache/debconf/config.dat",
                    "var/lib/apt/lists/lock", "var/lib/dpkg/status"]
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert (tmp_path / "var/lib/apt/lists/partial").is_dir() and (tmp_path / "tmp").is_dir()


class FakeRunner:
    """Records commands; fails the one whose argv contains `fail_on`, as ChrootRunner would."""

    def __init__(self, fail_on: str = "", output: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.fail_on, self.output = fail_on, output

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None, input: bytes | None = None) -> None:
        self.calls.append((list(argv), dict(env or {})))
        if self.fail_on and self.fail_on in " ".join(argv):
            raise CommandFailed(f"command {' '.join(argv)} failed (exit 9)", "last output lines:\n...",
                                argv=argv, status=9, output=self.output)


def test_configure_runs_preinsts_then_dpkg_and_names_failures(tmp_path: Path, debs: list[Path]) -> None:
    root = tmp_path / "r"
    dpkg_db.prepare_root(_made(root), merged_usr=False)
    items = [_installed(root, deb) for deb in debs]
    items[0].control["preinst"] = b"#!/bin/sh\nexit 0\n"
    dpkg_db.register(Root(root), items, "amd64")
    runner = FakeRunner()
    dpkg_db.configure(Root(root), items, runner)
    argvs = [argv for argv, _ in runner.calls]
    assert argvs[0][:2] == ["/bin/sh", "-c"] and argvs[0][3:] == ["rootfs-bootstrap-preinsts", "foo", "amd64",
                                                                 "foo:amd64"]
    assert argvs[1:] == [["dpkg", "--configure", "-a"], ["dpkg", "--audit"]]
    assert runner.calls[0][1]["DPKG_MAINTSCRIPT_NAME"] == "preinst"
    assert not (root / "usr/sbin/policy-rc.d").exists()
    failing = FakeRunner("--configure", ("Setting up bar (2:0.5) ...",
                                         "dpkg: error processing package bar (--configure):"))
    with pytest.raises(ConfigureError, match=r"^maintainer script postinst of package bar failed") as caught:
        dpkg_db.configure(Root(root), items, failing)
    assert caught.value.hint and caught.value.output[-1].startswith("dpkg: error")  # type: ignore[attr-defined]
    assert not (root / "usr/sbin/policy-rc.d").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs scripts in a chroot (needs root)")
def test_preinsts_run_in_one_shell_in_order_with_dpkg_env_and_the_failing_one_named(tmp_path: Path) -> None:
    from bootstrap.adapters.apt.scripts import run_preinsts
    from tests.core.test_configure import _tiny_root

    root = _tiny_root(tmp_path / "root")
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (root / "tmp").mkdir()
    script = ('#!/bin/sh\necho "$DPKG_MAINTSCRIPT_PACKAGE $DPKG_MAINTSCRIPT_ARCH $DPKG_MAINTSCRIPT_NAME $1" '
              '>> /tmp/ran\n')
    items = []
    for name, arch, body in (("b", "amd64", script), ("a", "all", script), ("none", "all", None),
                             ("c", "amd64", script + "echo c is unhappy\nexit 7\n"), ("d", "all", script)):
        package = Package(name=name, version="1", arch=arch, location="", checksums=(), size=1)
        item = Installed(package, [], {"preinst": body.encode()} if body else {})
        if body:
            path = info / f"{info_name(item)}.preinst"
            path.write_text(body)
            path.chmod(0o755)
        items.append(item)
    with ChrootRunner(root) as runner:
        run_preinsts(items[:3], runner)
        assert (root / "tmp/ran").read_text() == "b amd64 preinst install\na all preinst install\n"
        with pytest.raises(ConfigureError, match=r"^maintainer script preinst of package c failed \(exit 7\)$") \
                as caught:
            run_preinsts(items[2:], runner)
    assert caught.value.hint == "last output lines:\nc is unhappy"
    assert (root / "tmp/ran").read_text().splitlines()[-1] == "c amd64 preinst install"  # d never ran


def _minbase_debs() -> list[Path]:
    """bookworm minbase .debs: cached, or fetched once by mmdebstrap (which keeps them with
    --skip=essential/unlink) from the mirror the host's apt sources name."""
    if (DEBS / ".complete").exists():
        return sorted(DEBS.glob("*.deb"))
    if shutil.which("mmdebstrap") is None:
        pytest.skip("needs mmdebstrap to fetch the bookworm minbase packages once")
    from tests.apt.test_debian_real import _mirror_reachable

    mirror = _mirror_reachable()
    if mirror is None:
        pytest.skip("the host's Debian mirror (from its apt sources) is not reachable")
    work = DEBS.with_name("debs-minbase.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    done = subprocess.run(["mmdebstrap", "--variant=minbase", "--mode=root", "--skip=essential/unlink",
                           "--skip=cleanup/apt/cache", "bookworm", str(work / "root"), mirror],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(DEBS, ignore_errors=True)
    DEBS.mkdir(parents=True)
    for deb in (work / "root/var/cache/apt/archives").glob("*.deb"):
        shutil.copy2(deb, DEBS / deb.name)
    shutil.rmtree(work)
    (DEBS / ".complete").touch()
    return sorted(DEBS.glob("*.deb"))


def _in(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "/bin/sh", "-c", command], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.skipif(os.geteuid() != 0 or os.uname().machine != "x86_64",
                    reason="configures an amd64 root in mode root (needs root on x86_64)")
def test_real_bookworm_minbase_configures(tmp_path: Path) -> None:
    from bootstrap.unpack import Unpacker

    debs = _minbase_debs()
    root = tmp_path / "root"
    dpkg_db.prepare_root(_made(root), arch="amd64")
    unpacker = Unpacker(root)
    installed = []
    for deb in debs:
        control, manifest = extract_deb(unpacker, deb, deb.name.split("_")[0])
        installed.append(Installed(parse_packages(control["control"], base_url="file:///", repo_id="t")[0],
                                   manifest, control))
    dpkg_db.register(Root(root), installed, "amd64")
    registered = stanza_map((root / "var/lib/dpkg/status").read_text())
    with ChrootRunner(root) as runner:
        dpkg_db.configure(Root(root), installed, runner)
    assert [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in line] == []
    assert os.listdir(root / "dev") == []  # (before _in: a bare chroot makes /dev/null a file)
    states = _in(root, "dpkg-query -W -f='${db:Status-Abbrev}${Package}\\n'").stdout.splitlines()
    assert len(states) == len(debs) and all(s.startswith("ii") for s in states), states
    audit = _in(root, "dpkg --audit")
    assert (audit.returncode, audit.stdout, audit.stderr) == (0, "", "")
    check = _in(root, "apt-get check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert _in(root, "echo ok; id -un _apt").stdout == "ok\n_apt\n"
    # dpkg rewrote the whole status file: every stanza we wrote is byte-for-byte what it writes.
    after = stanza_map((root / "var/lib/dpkg/status").read_text())
    assert {k: v.replace("install ok unpacked", "install ok installed") for k, v in registered.items()} == after
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert (root / "usr/sbin/start-stop-daemon").read_bytes()[:4] == b"\x7fELF"
    assert not list(root.glob("usr/sbin/start-stop-daemon.REAL"))
    dpkg_db.cleanup(Root(root))
    assert not (root / "var/log/dpkg.log").exists() and not list(root.glob("var/lib/dpkg/*-old"))
