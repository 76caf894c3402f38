"""Hostile .debs in a validly signed archive: each ships a symlink out of the root at a place
the tool itself writes after unpacking (the package database, the sources, the policy-rc.d
guard, caches, logs), or a script that reaches for the host. Whatever the build does with
them, a canary directory outside the root stays byte-for-byte as it was.

The packages are made with dpkg-deb and served signed by apt-ftparchive + gpg on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(shutil.which("apt-ftparchive") is None or not BUSYBOX.exists(),
                                reason="needs apt-ftparchive (apt-utils) and busybox-static")

# Where the tool writes into the root after the unpacker, each made a link to the canary.
TOOL_WRITES = ["var/lib/dpkg/info", "var/lib/dpkg", "etc/apt", "etc/apt/sources.list.d", "usr/sbin",
               "var/cache/apt", "var/log", "var/lib/apt/lists", "etc", "tmp"]


def _snapshot(top: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """Every entry below `top`: mode, owner, group, mtime and content digest (or link target)."""
    found = {}
    for path in sorted([top, *top.rglob("*")]):
        st = path.lstat()
        what = os.readlink(path) if path.is_symlink() else \
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, what)
    return found


def _canary(base: Path) -> Path:
    canary = base / "canary"
    (canary / "info").mkdir(parents=True)
    (canary / "keep.txt").write_text("host file\n")
    (canary / "info" / "hello.list").write_text("host's own\n")
    os.utime(canary / "keep.txt", (1_000_000, 1_000_000))
    return canary


def _debs(work: Path, canary: Path) -> list[Path]:
    base = Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
               files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
               symlinks={"/bin/sh": "busybox"})
    debs = [base]
    for i, place in enumerate(TOOL_WRITES):
        debs.append(Deb(f"link-{i}", symlinks={f"/{place}": str(canary)}))
        debs.append(Deb(f"rel-link-{i}", symlinks={f"/{place}": "../" * 12 + str(canary).lstrip("/")}))
    # Scripts that reach for the host: through /proc/*/root, and through an absolute path.
    reach = (f"#!/bin/sh\nfor p in /proc/[0-9]*/root{canary}; do echo pwned > \"$p/pwned\" 2>/dev/null; done\n"
             f"echo pwned > {canary}/pwned-direct 2>/dev/null\nexit 0\n")
    debs.append(Deb("reacher", scripts={"preinst": reach, "postinst": reach}))
    return [build_deb(d, work) for d in debs]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    """(mirror url, keyring, canary, its snapshot, package names) of a signed hostile archive."""
    work = tmp_path_factory.mktemp("hostile")
    canary = _canary(work)
    keyring = make_key(work / "gnupg")
    debs = _debs(work / "debs", canary)
    build_repo(work / "mirror", debs, work / "gnupg")
    names = [p.name.split("_")[0] for p in debs if not p.name.startswith("tiny-base")]
    with Server(work / "mirror") as server:
        yield server.url, keyring, canary, _snapshot(canary), names


def _build(hostile, tmp_path: Path, name: str, mode: str) -> subprocess.CompletedProcess[str]:
    url, keyring, *_ = hostile
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "bootstrap", "debian-bookworm", "--mirror", url,
                           "--keyring", str(keyring), "--cache-dir", str(tmp_path / "cache"),
                           "--variant", "custom", "--include", f"tiny-base,{name}", "--mode", mode,
                           "-o", str(tmp_path / "out.tar")], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("mode", ["extract", "root"])
def test_nothing_leaves_the_root(hostile, tmp_path: Path, mode: str) -> None:
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("mode root needs root")
    _, _, canary, before, names = hostile
    outcomes = {}
    for name in names:
        done = _build(hostile, tmp_path / name, name, mode)
        # Either it built, or it failed as users see failures: one error line, no traceback.
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0 or "error: " in done.stderr, done.stderr
        outcomes[name] = done.returncode
        assert _snapshot(canary) == before, f"{name} ({mode}) changed the canary"
    if mode == "extract":  # root mode configures with dpkg, which this tiny root lacks
        assert any(code == 0 for code in outcomes.values())  # the battery really built roots
