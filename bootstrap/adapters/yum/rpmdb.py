"""The RPM database and scriptlets of a new root, done by the target's own rpm in the chroot.

A host rpm cannot write a database an old release reads (rpm 4.18's sqlite/ndb vs CentOS 4's
Berkeley DB 4.2 with its own hash format), so, as rinse and febootstrap do, the packages are
copied into the root and installed once more by the root's rpm:

    rpm --initdb
    rpm -i --force --nodeps --nosignature --nodigest --ignoresize --ignorearch <every rpm>

`--force` lets rpm lay the files it finds already unpacked over themselves (same content),
record every package, and run %pre/%post in its own transaction order with the right arguments
(lua scriptlets included), all of which a hand-written database would get wrong. Signatures
were checked before unpacking (trust.rpmsig); the root's rpm has no keys imported, hence
--nosignature/--nodigest. The files rpm writes are the ones the manifest already describes.

Without rpm in the target set there is no database to write: each %pre/%post runs directly
through its interpreter with argument 1 (first install), lua scriptlets are skipped with a
notice (only rpm embeds lua).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from bootstrap.adapters import Installed, Runner
from bootstrap.adapters.yum.header import RpmFile, read_rpm

Log = Callable[[str], None]
STAGE = "var/tmp/rootfs-bootstrap-rpms"
# usr/bin first: on a merged-/usr root, bin is a symlink the host must not follow.
RPM_BINARIES = ("usr/bin/rpm", "bin/rpm")


def target_rpm(root: Path) -> str | None:
    """The path of the root's own rpm binary (as seen inside the root), if any."""
    for rel in RPM_BINARIES:
        if os.path.lexists(root / rel):
            return "/" + rel
    return None


def install_with_target_rpm(root: Path, installed: Sequence[Installed], runner: Runner, rpm: str,
                            log: Log) -> None:
    """Register every package (and run its scriptlets) with the root's rpm, in one transaction."""
    stage = root / STAGE
    stage.mkdir(parents=True, exist_ok=True)
    names = []
    try:
        for item in installed:
            # The cache names files by digest; rpm's messages read better with the real name.
            name = item.package.filename or f"{item.package.name}.rpm"
            shutil.copyfile(item.control["rpm"].decode(), stage / name)
            names.append(f"/{STAGE}/{name}")
        if not os.path.lexists(root / "var/lib/rpm"):  # Fedora 36+ ships it as a symlink
            (root / "var/lib/rpm").mkdir(parents=True)
        runner.run([rpm, "--initdb"])
        log(f"rpm database: {len(names)} packages installed by the target's {rpm} (scriptlets run by rpm)")
        runner.run([rpm, "-i", "--force", "--nodeps", "--nosignature", "--nodigest", "--ignoresize",
                    "--ignorearch", *names])
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def run_scriptlets(root: Path, installed: Sequence[Installed], runner: Runner, log: Log) -> None:
    """Without rpm in the root: every %pre then %post of each package, in install order."""
    for item in installed:
        rpm = _header(item)
        for kind in ("pre", "post"):
            script = rpm.scripts().get(kind)
            if script is None:
                continue
            if script.prog[0] == "<lua>":
                log(f"{item.package.name}: %{kind} is a lua scriptlet, which only rpm runs: skipped")
                continue
            _run(root, runner, f"{item.package.name}.{kind}", script.body, list(script.prog))


def _header(item: Installed) -> RpmFile:
    with open(item.control["rpm"].decode(), "rb") as fh:
        return read_rpm(fh)


def _run(root: Path, runner: Runner, name: str, body: str, prog: list[str]) -> None:
    """Run one scriptlet as rpm does: `prog [args] <script file> 1` (1 = first install); an
    interpreter-only one (`-p /sbin/ldconfig`, empty body) without arguments."""
    if not body:
        runner.run([*prog])  # `%post -p /sbin/ldconfig`: rpm runs the interpreter alone, no argument
        return
    path = root / "tmp" / f".rpm-script.{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8", errors="surrogateescape")
    try:
        runner.run([*prog, f"/tmp/{path.name}", "1"])
    finally:
        path.unlink(missing_ok=True)


def clean_db_leftovers(root: Path) -> list[str]:
    """Berkeley DB environment files and locks an rpm run leaves (rinse removes them too:
    stale __db.* files from another rpm version break the first `rpm -q` in the image)."""
    removed = []
    db = root / "var/lib/rpm"
    if db.is_dir():
        for entry in db.glob("__db.*"):
            entry.unlink()
            removed.append(str(entry.relative_to(root)))
        lock = db / ".rpm.lock"
        if lock.exists():
            lock.unlink()
    return removed
