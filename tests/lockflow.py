"""The lock-file scenarios every family's test mirror goes through (tests/apt/test_lock_apt.py,
tests/yum/test_lock_yum.py, tests/apk/test_lock_apk.py), through the command line:

- two builds of one lock give the same sha256 for the .tar.gz and the same OCI manifest
  digest, with an SBOM beside each;
- `refresh` with nothing changed exits 0, builds nothing and leaves the lock as it is; after
  the mirror gains a newer package it exits 10, rewrites the lock and reports the upgrade;
- a package the mirror dropped still builds from the lock out of the cache and out of a
  `--store`, and fails with one clear line naming it when it is in neither;
- a lock whose digest is not the payload's fails naming the package; `--offline` builds from
  a warm cache and refuses a cold one.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXIT_CHANGED = 10


@dataclass
class Family:
    """One family's mutable test mirror, as the scenarios use it.

    `args` select the mirror and its keys (--mirror, --keyring); `shape` the resolution
    (--variant, --include); `package` is the name `upgrade()` publishes a newer version of
    (returning it), `remove(name)` deletes a package's file from the mirror (its index still
    listing it, as a mirror that dropped it from the pool would, or not: either way it is gone).
    `mode` is the build mode the scenarios use."""

    profile: str
    args: list[str]
    shape: list[str]
    package: str
    upgrade: Callable[[], str]
    remove: Callable[[str], None]
    key: Path  # the keyring `args` name
    mode: str = "root"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`rootfs-bootstrap ARGS` from the source tree, output captured."""
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600, env=env)


def ok(done: subprocess.CompletedProcess[str], code: int = 0) -> subprocess.CompletedProcess[str]:
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_lock(fam: Family, lock: Path, cache: Path) -> dict:
    """`lock PROFILE ... -o LOCK`; returns the lock as JSON."""
    ok(cli("lock", fam.profile, *fam.args, *fam.shape, "--cache-dir", str(cache), "-o", str(lock)))
    return json.loads(lock.read_text())


def build_from(fam: Family, lock: Path, out: Path, cache: Path, *extra: str,
               code: int = 0) -> subprocess.CompletedProcess[str]:
    return ok(cli("build", fam.profile, "--lock", str(lock), "--cache-dir", str(cache), "--mode", fam.mode,
                  *extra, "-o", str(out)), code)


def versions(lock: dict) -> dict[str, str]:
    return {p["name"]: p["version"] for p in lock["packages"]}


def oci_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def two_builds_identical(fam: Family, tmp: Path) -> None:
    """Same lock, two builds (the second from a warm cache): same bytes, tar and OCI."""
    tmp.mkdir(parents=True, exist_ok=True)
    lock = tmp / "image.lock"
    locked = make_lock(fam, lock, tmp / "cache")
    assert locked["format"] == 1 and locked["profile"] and locked["packages"]
    assert all(r["index"]["sha256"] for r in locked["repositories"] if r["present"])
    first, second = tmp / "a" / "rootfs.tar.gz", tmp / "b" / "rootfs.tar.gz"
    for out, cache in ((first, tmp / "cache"), (second, tmp / "cache2")):
        out.parent.mkdir()
        build_from(fam, lock, out, cache)
    assert sha256(first) == sha256(second)
    assert (first.parent / "rootfs.spdx.json").is_file()
    assert (first.parent / "rootfs.spdx.json").read_bytes() == (second.parent / "rootfs.spdx.json").read_bytes()
    layouts = [tmp / "oci-a", tmp / "oci-b"]
    for layout in layouts:
        build_from(fam, lock, layout, tmp / "cache", "--format", "oci")
    assert oci_digest(layouts[0]) == oci_digest(layouts[1])


def refresh_no_change_then_upgrade(fam: Family, tmp: Path) -> None:
    """refresh: 0 with nothing built and the lock as it was; 10 after an upgrade, with the
    lock rewritten and the upgrade reported."""
    tmp.mkdir(parents=True, exist_ok=True)
    lock, cache, out = tmp / "image.lock", tmp / "cache", tmp / "out.tar.gz"
    before = versions(make_lock(fam, lock, cache))
    text = lock.read_bytes()
    done = ok(cli("refresh", str(lock), "--cache-dir", str(cache), "--mode", fam.mode, "-o", str(out),
                  "--report", str(tmp / "report.json")))
    assert "nothing changed" in done.stderr
    assert not out.exists() and not (tmp / "report.json").exists() and lock.read_bytes() == text
    new_version = fam.upgrade()
    done = ok(cli("refresh", str(lock), "--cache-dir", str(cache), "--mode", fam.mode, "-o", str(out),
                  "--report", str(tmp / "report.json"), "--report-md", str(tmp / "report.md")), EXIT_CHANGED)
    after = versions(json.loads(lock.read_text()))
    assert after[fam.package] == new_version != before[fam.package]
    assert out.is_file() and (tmp / "out.spdx.json").is_file()
    report = json.loads((tmp / "report.json").read_text())
    upgraded = [c for c in report["packages"] if c["kind"] == "upgraded"]
    assert [(c["name"], c["old_version"], c["new_version"]) for c in upgraded] == [
        (fam.package, before[fam.package], new_version)]
    assert fam.package in done.stdout and "→" in done.stdout
    assert "→" in (tmp / "report.md").read_text()
    again = ok(cli("refresh", str(lock), "--cache-dir", str(cache), "-o", str(tmp / "again.tar.gz")))
    assert "nothing changed" in again.stderr and not (tmp / "again.tar.gz").exists()


def removed_package(fam: Family, tmp: Path) -> None:
    """A package gone from the mirror: from the cache, from the store, else a clear error."""
    tmp.mkdir(parents=True, exist_ok=True)
    lock, cache = tmp / "image.lock", tmp / "cache"
    make_lock(fam, lock, cache)
    build_from(fam, lock, tmp / "first.tar.gz", cache)
    ok(cli("fetch", "--lock", str(lock), "--store", str(tmp / "store"), "--cache-dir", str(cache)))
    fam.remove(fam.package)
    build_from(fam, lock, tmp / "cached.tar.gz", cache)
    assert sha256(tmp / "cached.tar.gz") == sha256(tmp / "first.tar.gz")
    build_from(fam, lock, tmp / "stored.tar.gz", tmp / "fresh-cache", "--store", str(tmp / "store"))
    assert sha256(tmp / "stored.tar.gz") == sha256(tmp / "first.tar.gz")
    done = build_from(fam, lock, tmp / "none.tar.gz", tmp / "empty-cache", code=3)
    assert fam.package in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("error: ") == 1
    assert not (tmp / "none.tar.gz").exists()


def tampered_and_offline(fam: Family, tmp: Path, tamper: Callable[[dict], tuple[str, str]]) -> None:
    """A lock whose digest is not the payload's fails naming the package; --offline builds
    from a warm cache and refuses a cold one."""
    tmp.mkdir(parents=True, exist_ok=True)
    lock, cache = tmp / "image.lock", tmp / "cache"
    doc = make_lock(fam, lock, cache)
    build_from(fam, lock, tmp / "warm.tar.gz", cache)
    build_from(fam, lock, tmp / "offline.tar.gz", cache, "--offline")
    assert sha256(tmp / "offline.tar.gz") == sha256(tmp / "warm.tar.gz")
    cold = build_from(fam, lock, tmp / "cold.tar.gz", tmp / "cold-cache", "--offline", code=3)
    assert "offline" in cold.stderr and not (tmp / "cold.tar.gz").exists()
    name, words = tamper(doc)
    bad = tmp / "bad.lock"
    from bootstrap.lock import dumps, loads

    bad.write_text(dumps(loads(json.dumps(doc))))
    done = build_from(fam, bad, tmp / "bad.tar.gz", tmp / "bad-cache", code=3)
    assert name in done.stderr and words in done.stderr and not (tmp / "bad.tar.gz").exists()


def _path_without(tools: tuple[str, ...], where: Path) -> str:
    """A PATH holding every command of /usr/bin and /bin but `tools`."""
    where.mkdir(parents=True)
    for directory in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for entry in Path(directory).iterdir():
            if entry.name not in tools and not (where / entry.name).exists():
                (where / entry.name).symlink_to(entry)
    return str(where)


def same_bytes_everywhere(fam: Family, tmp: Path) -> None:
    """One lock, mode extract: as root with pigz and xz on PATH, as root without them, and as
    an unprivileged user (uid 65534) give the same .tar.gz, .tar.xz and OCI digests (the
    family's keyring copied where that user can read it)."""
    import os
    import shutil

    from tests import nobody

    key = fam.key
    tmp.mkdir(parents=True, exist_ok=True)
    lock, cache = tmp / "image.lock", tmp / "cache"
    make_lock(fam, lock, cache)
    results: dict[str, list[str]] = {}
    for n, env in enumerate(({**os.environ}, {**os.environ, "PATH": _path_without(("pigz", "xz"), tmp / "bin")})):
        out = tmp / f"root-{n}"
        out.mkdir()
        for name, fmt in (("rootfs.tar.gz", "tar"), ("rootfs.tar.xz", "tar"), ("oci", "oci")):
            ok(cli("build", fam.profile, "--lock", str(lock), "--cache-dir", str(cache), "--mode", "extract",
                   "--format", fmt, "-o", str(out / name), env=env))
        results[f"root-{n}"] = [sha256(out / "rootfs.tar.gz"), sha256(out / "rootfs.tar.xz"), oci_digest(out / "oci")]
    work = nobody.workdir()
    try:
        tree = nobody.source_tree(work)
        shutil.copy(lock, work / "image.lock")
        shutil.copy(key, work / key.name)
        (work / "out").mkdir()
        nobody.give(work)
        for name, fmt in (("rootfs.tar.gz", "tar"), ("rootfs.tar.xz", "tar"), ("oci", "oci")):
            done = nobody.run(["build", fam.profile, "--lock", str(work / "image.lock"), "--keyring",
                               str(work / key.name), "--cache-dir", str(work / "cache"), "--mode", "extract",
                               "--format", fmt, "-o", str(work / "out" / name)], work, tree)
            ok(done)
        out = work / "out"
        results["nobody"] = [sha256(out / "rootfs.tar.gz"), sha256(out / "rootfs.tar.xz"), oci_digest(out / "oci")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert results["root-0"] == results["root-1"] == results["nobody"], results
