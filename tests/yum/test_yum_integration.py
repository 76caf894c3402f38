"""A vault-shaped yum mirror built with rpmbuild + createrepo_c, signed with a throwaway key
(rpmsign), served on 127.0.0.1: load → resolve → fetch → check → unpack, owners, modes,
capabilities, %ghost, the newest version across os/updates, i686 over i386, filelists read
only for a file dependency primary cannot meet, a 32-bit static binary run in a chroot, and a
bad signature / wrong checksum stopping the build."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters import Installed
from bootstrap.adapters.yum.adapter import YumAdapter
from bootstrap.errors import ChecksumError, VerificationError
from bootstrap.fetch import Fetcher
from bootstrap.root import Root
from bootstrap.types import Package, Relation, Repository, RepoTrust, Target
from tests.yum.yumrepo import SPEC_HEAD, Vault, _cli, _run


class Loaded:
    """The fetcher of a test build and the trust of every repository it read (by id)."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self.trust: dict[str, RepoTrust] = {}


def _plan(vault: Vault, profile: str, names: list[str], cache: Path,
          logs: list[str]) -> tuple[YumAdapter, list[Package], Loaded]:
    from bootstrap.resolve import resolve

    prof = config.load_profile(profile, config.Overrides(mirror=vault.url, keyrings=(str(vault.key),)))
    adapter = YumAdapter(prof, logs.append)
    loaded = Loaded(Fetcher(cache))
    universe = [p for repo in prof.repositories for p in _load(adapter, repo, loaded, logs)]
    names = adapter.expand_requests(names, universe, loaded.fetcher)
    universe = adapter.complete_universe(universe, names, loaded.fetcher, logs.append)
    result = resolve(universe, [(Relation(n),) for n in names], adapter.version_scheme(prof.arch))
    return adapter, list(result.packages), loaded


def _load(adapter: YumAdapter, repo: Repository, loaded: Loaded, logs: list[str]) -> list[Package]:
    from bootstrap.errors import RepositoryNotFound

    try:
        index = adapter.load(repo, "i386", loaded.fetcher, logs.append)
    except RepositoryNotFound:
        assert repo.optional
        return []
    loaded.trust[repo.id] = index.trust
    return index.packages


def _install(adapter: YumAdapter, packages: list[Package], loaded: Loaded, root: Path) -> list[Installed]:
    from bootstrap.types import FetchItem

    paths = loaded.fetcher.get_many([FetchItem(p.location, p.checksums, p.size, p.key) for p in packages])
    for pkg, path in zip(packages, paths, strict=True):
        adapter.check_payload(pkg, path, loaded.trust[pkg.repo])
    adapter.prepare_root(Root(root))
    return [adapter.unpack(pkg, path, Root(root)) for pkg, path in zip(packages, paths, strict=True)]


def test_resolution_newest_best_arch_and_lazy_filelists(vault: Vault, tmp_path: Path) -> None:
    logs: list[str] = []
    _, packages, _ = _plan(vault, "centos4.3", ["hello"], tmp_path / "cache", logs)
    assert {p.key for p in packages} == {"hello=1.0-1.i686", "setup=2.5-1.noarch"}
    assert not any("filelists" in line for line in logs)  # primary's files were enough
    _, packages, _ = _plan(vault, "centos4.3", ["hello-extra"], tmp_path / "cache", logs)
    assert "hello-data" in {p.name for p in packages}
    assert any("reading filelists" in line for line in logs)


def test_unpack_owners_modes_caps_ghost_and_run(vault: Vault, tmp_path: Path) -> None:
    logs: list[str] = []
    adapter, packages, fetcher = _plan(vault, "centos4.3", ["hello"], tmp_path / "cache", logs)
    root = tmp_path / "root"
    root.mkdir()
    installed = _install(adapter, packages, fetcher, root)
    manifest = {e.path: e for i in installed for e in i.manifest}
    spool = manifest["var/spool/hello"]
    # names through the root's own passwd/group (setup landed first), as rpm maps them
    assert (spool.uid, spool.gid, spool.mode, spool.uname, spool.gname) == (2, 12, 0o770, "daemon", "mail")
    suid = manifest["usr/bin/hello-suid"]
    assert (suid.mode, suid.gid) == (0o4750, 12)
    caps = dict(manifest["usr/bin/pinger"].xattrs)
    assert caps["security.capability"] == bytes.fromhex("0100000200200000000000000000000000000000")
    assert "var/log/hello.log" not in manifest and not (root / "var/log/hello.log").exists()
    if os.geteuid() == 0:
        st = (root / "var/spool/hello").stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (2, 12, 0o770)
        assert (root / "usr/bin/hello-suid").stat().st_mode & 0o7777 == 0o4750
        assert os.getxattr(root / "usr/bin/pinger", "security.capability") == caps["security.capability"]
        out = subprocess.run(["linux32", "chroot", str(root), "/usr/bin/hello"], capture_output=True, text=True)
        assert out.stdout == "hello from 32-bit\n"


def test_scriptlets_without_rpm_in_the_target(vault: Vault, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    from bootstrap.sandbox import ChrootRunner

    logs: list[str] = []
    adapter, packages, fetcher = _plan(vault, "centos4.3", ["hello"], tmp_path / "cache", logs)
    root = tmp_path / "root"
    root.mkdir()
    installed = _install(adapter, packages, fetcher, root)
    target = Target("i386", ("hello",), fetcher.trust)
    adapter.register(Root(root), installed, target)
    assert any("no RPM database" in line for line in logs)
    with ChrootRunner(root, mode="root", personality="linux32", log=logs.append) as runner:
        adapter.configure(Root(root), installed, runner, target)
    assert (root / "var/lib/hello-post").read_text() == "1"  # %post -p /usr/bin/hello <script> 1
    adapter.cleanup(Root(root))


def test_bad_signature_stops(vault: Vault, tmp_path: Path) -> None:
    adapter, packages, fetcher = _plan(vault, "centos4.4", ["hello"], tmp_path / "cache", [])
    with pytest.raises(VerificationError, match=r"hello-1\.0-1\.i686"):
        _install(adapter, packages, fetcher, tmp_path / "root")


def test_wrong_checksum_stops(vault: Vault, tmp_path: Path) -> None:
    adapter, packages, fetcher = _plan(vault, "centos4.5", ["hello"], tmp_path / "cache", [])
    with pytest.raises(ChecksumError):
        _install(adapter, packages, fetcher, tmp_path / "root")


def test_missing_key_is_a_clear_error(vault: Vault, tmp_path: Path) -> None:

    prof = config.load_profile("centos4.3", config.Overrides(mirror=vault.url, keyrings=(str(vault.evil_key),)))
    adapter = YumAdapter(prof)
    loaded = Loaded(Fetcher(tmp_path / "cache"))
    packages = [p for repo in prof.repositories for p in _load(adapter, repo, loaded, [])]
    setup = next(p for p in packages if p.name == "setup")
    from bootstrap.types import FetchItem

    path = loaded.fetcher.get_file(FetchItem(setup.location, setup.checksums, setup.size))
    with pytest.raises(VerificationError):
        adapter.check_payload(setup, path, loaded.trust[setup.repo])


def test_cli_centos43_from_vault_mirror(vault: Vault, tmp_path: Path) -> None:
    """`rootfs-bootstrap centos4.3 --mirror URL --include hello -o out.tar`: owners and modes in the
    tar as the packages declare them, and in mode root the %post ran in the 32-bit chroot."""
    mode = "root" if os.geteuid() == 0 else "extract"
    out = tmp_path / "out.tar"
    done = _cli("centos4.3", "--mirror", vault.url, "--keyring", str(vault.key), "--variant", "custom",
                "--include", "hello", "--mode", mode, "-o", str(out), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        spool = members["var/spool/hello"]
        assert (spool.uid, spool.gid, spool.mode) == (2, 12, 0o770)
        assert members["usr/bin/hello-suid"].mode == 0o4750
        assert "var/log/hello.log" not in members
        if mode == "root":
            post = tar.extractfile(members["var/lib/hello-post"])
            assert post is not None and post.read() == b"1"
    if os.geteuid() == 0:
        root = tmp_path / "unpacked"
        root.mkdir()
        subprocess.run(["tar", "-xpf", str(out), "-C", str(root)], check=True)
        run = subprocess.run(["linux32", "chroot", str(root), "/usr/bin/hello"], capture_output=True, text=True)
        assert run.stdout == "hello from 32-bit\n"


def test_cli_bad_signature_leaves_no_output(vault: Vault, tmp_path: Path) -> None:
    out = tmp_path / "out.tar"
    done = _cli("centos4.4", "--mirror", vault.url, "--keyring", str(vault.key), "--variant", "custom",
                "--include", "hello", "--mode", "extract", "-o", str(out), cache=tmp_path / "cache")
    assert done.returncode == 4 and "hello-1.0-1.i686" in done.stderr, done.stderr
    assert not out.exists()


RPM_HOST = """BuildArch: noarch
AutoReqProv: no
%description
the build host's rpm, its configuration and libraries, and a /bin/sh: a target rpm for the chroot
%install
cp -a %{tree}/. %{buildroot}/
%files -f %{filelist}
"""


def _host_rpm_tree(tree: Path) -> list[str]:
    """/usr/bin/rpm, /bin/sh (dash) and what `ldd` lists for them, plus /usr/lib/rpm."""
    # Debian's rpm --initdb execs rpmdb; its database lives in ~/.rpmdb, hence /root.
    wanted = {"/usr/bin/rpm": "/usr/bin/rpm", "/usr/bin/rpmdb": "/usr/bin/rpmdb",
              "/bin/sh": shutil.which("dash") or "/bin/sh"}
    for exe in list(wanted.values()):
        out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
        for line in out.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                wanted[path] = path
    files = []
    for dest, src in wanted.items():
        target = tree / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(src), target)
        files.append(dest)
    (tree / "root").mkdir()
    files.append("%dir /root")
    shutil.copytree("/usr/lib/rpm", tree / "usr/lib/rpm", symlinks=True)
    files += ["/" + str(p.relative_to(tree)) for p in (tree / "usr/lib/rpm").rglob("*") if not p.is_dir()]
    return files


def test_target_rpm_writes_the_database(vault: Vault, tmp_path: Path) -> None:
    """Mode root with rpm in the set: the root's own rpm records every package (rpm -qa) and
    runs the %post scriptlets, as rinse/febootstrap do."""
    if os.geteuid() != 0 or shutil.which("ldd") is None or not Path("/usr/lib/rpm").is_dir():
        pytest.skip("needs root, ldd and the host's rpm")
    from bootstrap.sandbox import ChrootRunner

    tree = tmp_path / "tree"
    files = _host_rpm_tree(tree)
    (tmp_path / "filelist").write_text("".join(f'"{f}"\n' if f.startswith("/") else f"{f}\n" for f in files))
    spec = tmp_path / "rpm.spec"
    spec.write_text(SPEC_HEAD.replace("NAME", "rpm").replace("VERSION", "4.18.0") + RPM_HOST)
    _run(["rpmbuild", "-bb", "--define", f"_topdir {tmp_path / 'top'}", "--define", f"tree {tree}",
          "--define", f"filelist {tmp_path / 'filelist'}", str(spec)])
    rpm = next((tmp_path / "top/RPMS").glob("*/rpm-4.18.0-1.noarch.rpm"))
    os_dir = vault.top / "4.6" / "os" / "i386"
    if not os_dir.exists():
        shutil.copytree(vault.top / "4.3" / "os", vault.top / "4.6" / "os")
        shutil.copytree(vault.top / "4.3" / "updates", vault.top / "4.6" / "updates")
        shutil.copy(rpm, os_dir / "RPMS")
        _run(["createrepo_c", "--checksum", "sha", str(os_dir)])
    prof = config.load_profile("centos4.6", config.Overrides(mirror=vault.url, keyrings=(str(vault.key),)))
    logs: list[str] = []
    adapter = YumAdapter(prof, logs.append)
    from bootstrap.resolve import resolve

    fetcher = Loaded(Fetcher(tmp_path / "cache"))
    universe = [p for repo in prof.repositories for p in _load(adapter, repo, fetcher, logs)]
    packages = list(resolve(universe, [(Relation("hello"),), (Relation("rpm"),)],
                            adapter.version_scheme("i386")).packages)
    fetcher.trust["base"] = replace(fetcher.trust["base"], verify=False)  # the host rpm is unsigned
    root = tmp_path / "root"
    root.mkdir()
    installed = _install(adapter, packages, fetcher, root)
    target = Target("i386", ("hello", "rpm"), fetcher.trust)
    adapter.register(Root(root), installed, target)
    with ChrootRunner(root, mode="root", personality="linux32", log=logs.append) as runner:
        adapter.configure(Root(root), installed, runner, target)
    adapter.cleanup(Root(root))
    qa = subprocess.run(["chroot", str(root), "/usr/bin/rpm", "-qa", "--qf", "%{NAME}-%{VERSION}.%{ARCH}\\n"],
                        capture_output=True, text=True, check=True).stdout.split()
    assert sorted(qa) == ["hello-1.0.i686", "rpm-4.18.0.noarch", "setup-2.5.noarch"]
    assert (root / "var/lib/hello-post").read_text() == "1"  # rpm ran the %post
    assert not list((root / "var/lib/rpm").glob("__db.*")) and not (root / "var/tmp/rootfs-bootstrap-rpms").exists()
