"""The rpm database and scriptlet steps against a recording runner: what lands in the root (and
only there, even where the root's tmp is a symlink), what the chrooted command would be given,
and what is cleaned up afterwards. No chroot or root privileges needed."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bootstrap.adapters import Installed
from bootstrap.adapters.yum import rpmdb
from bootstrap.root import Root
from bootstrap.types import Package
from tests.yum.synthrpm import SynthRpm, rpm_bytes


class Recorder:
    """A Runner that records each argv with the files the root held at that moment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[list[str], dict[str, bytes]]] = []

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            input: bytes | None = None) -> None:
        seen = {str(p.relative_to(self.root)): p.read_bytes() for p in self.root.rglob("*")
                if p.is_file() and not p.is_symlink()}
        self.calls.append((list(argv), seen))


def _installed(tmp_path: Path, spec: SynthRpm) -> Installed:
    path = tmp_path / "cache" / "0123abcd.rpm"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(rpm_bytes(spec))
    pkg = Package(spec.name, f"{spec.version}-{spec.release}", spec.arch,
                  location=f"http://mirror/{spec.name}-{spec.version}-{spec.release}.{spec.arch}.rpm")
    return Installed(pkg, [], {"rpm": str(path).encode()})


def test_scriptlets_written_inside_the_root_even_through_a_tmp_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "tmp").symlink_to("/var/tmp")  # absolute: inside the root it means root/var/tmp
    spec = SynthRpm(scripts={"pre": ("echo pre", "/bin/sh"), "post": ("", "/sbin/ldconfig")})
    runner = Recorder(root)
    logs: list[str] = []
    rpmdb.run_scriptlets(Root(root), [_installed(tmp_path, spec)], runner, logs.append)
    (argv, seen), (post, _) = runner.calls
    assert argv == ["/bin/sh", "/tmp/.rpm-script.synth.pre", "1"]
    assert seen == {"var/tmp/.rpm-script.synth.pre": b"echo pre"}
    assert post == ["/sbin/ldconfig"]  # interpreter only: no script file, no argument
    assert not (root / "var/tmp/.rpm-script.synth.pre").exists()
    assert not Path("/var/tmp/.rpm-script.synth.pre").exists()


def test_lua_scriptlets_are_skipped_with_a_notice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    runner = Recorder(root)
    logs: list[str] = []
    spec = SynthRpm(scripts={"post": ("print('hi')", "<lua>")})
    rpmdb.run_scriptlets(Root(root), [_installed(tmp_path, spec)], runner, logs.append)
    assert runner.calls == [] and any("lua scriptlet" in line for line in logs)


@pytest.mark.parametrize("rpm_db_link", [False, True])
def test_target_rpm_stages_installs_and_cleans(tmp_path: Path, rpm_db_link: bool) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/rpm").write_bytes(b"")
    if rpm_db_link:  # Fedora 36+: var/lib/rpm -> ../../usr/lib/sysimage/rpm, kept as it is
        (root / "usr/lib/sysimage/rpm").mkdir(parents=True)
        (root / "var/lib").mkdir(parents=True)
        (root / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
    handle = Root(root)
    assert rpmdb.target_rpm(handle) == "/usr/bin/rpm"
    item = _installed(tmp_path, SynthRpm())
    runner = Recorder(root)
    rpmdb.install_with_target_rpm(handle, [item], runner, "/usr/bin/rpm", lambda line: None)
    (initdb, _), (install, seen) = runner.calls
    staged = f"{rpmdb.STAGE}/synth-1.0-1.noarch.rpm"
    assert initdb == ["/usr/bin/rpm", "--initdb"]
    assert install[:2] == ["/usr/bin/rpm", "-i"] and install[-1] == "/" + staged
    assert seen[staged] == Path(item.control["rpm"].decode()).read_bytes()
    assert not (root / rpmdb.STAGE).exists()
    assert (root / "var/lib/rpm").is_symlink() == rpm_db_link and (root / "var/lib/rpm").is_dir()


def test_db_leftovers_removed_through_the_rpm_db_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    db = root / "usr/lib/sysimage/rpm"
    db.mkdir(parents=True)
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
    for name in ("__db.001", "__db.002", ".rpm.lock", "Packages"):
        (db / name).write_bytes(b"x")
    assert rpmdb.clean_db_leftovers(Root(root)) == ["var/lib/rpm/__db.001", "var/lib/rpm/__db.002"]
    assert sorted(p.name for p in db.iterdir()) == ["Packages"]
    assert rpmdb.target_rpm(Root(root)) is None
