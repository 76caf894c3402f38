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

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from bootstrap.adapters import Installed, Runner
from bootstrap.adapters.yum.header import RpmFile, read_rpm
from bootstrap.root import Root
from bootstrap.types import Log

STAGE = "var/tmp/rootfs-bootstrap-rpms"
# usr/bin first: on a merged-/usr root, bin is a symlink the host must not follow.
RPM_BINARIES = ("usr/bin/rpm", "bin/rpm")
RPM_DB = "var/lib/rpm"


def target_rpm(root: Root) -> str | None:
    """The path of the root's own rpm binary (as seen inside the root), if any."""
    for rel in RPM_BINARIES:
        if root.lexists(rel):
            return "/" + rel
    return None


def install_with_target_rpm(root: Root, installed: Sequence[Installed], runner: Runner, rpm: str,
                            log: Log) -> None:
    """Register every package (and run its scriptlets) with the root's rpm, in one transaction.
    The .rpm files are staged under STAGE inside the root (the chrooted rpm reads them there)
    and removed again, whatever happens."""
    # No mkdir first: copy_in creates missing parents inside the root, and follows a var/tmp
    # the packages made a symlink there as a chroot would (Root.mkdir refuses a symlink).
    names = []
    try:
        for item in installed:
            # The cache names files by digest; rpm's messages read better with the real name.
            name = item.package.filename or f"{item.package.name}.rpm"
            root.copy_in(Path(item.control["rpm"].decode()), f"{STAGE}/{name}")
            names.append(f"/{STAGE}/{name}")
        if not root.lexists(RPM_DB):  # Fedora 36+ ships it as a symlink: leave that alone
            root.mkdir(RPM_DB)
        runner.run([rpm, "--initdb"])
        log(f"rpm database: {len(names)} packages installed by the target's {rpm} (scriptlets run by rpm)")
        runner.run([rpm, "-i", "--force", "--nodeps", "--nosignature", "--nodigest", "--ignoresize",
                    "--ignorearch", *names])
    finally:
        with suppress(OSError):  # best effort, as rmtree(ignore_errors): cleanup() tries again
            root.remove_tree(STAGE)


def run_scriptlets(root: Root, installed: Sequence[Installed], runner: Runner, log: Log) -> None:
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
    # The downloaded .rpm in the host's cache, not a file of the root.
    with open(item.control["rpm"].decode(), "rb") as fh:
        return read_rpm(fh)


def _run(root: Root, runner: Runner, name: str, body: str, prog: list[str]) -> None:
    """Run one scriptlet as rpm does: `prog [args] <script file> 1` (1 = first install); an
    interpreter-only one (`-p /sbin/ldconfig`, empty body) without arguments. The script file
    lives in the root's /tmp for the run only."""
    if not body:
        runner.run([*prog])  # `%post -p /sbin/ldconfig`: rpm runs the interpreter alone, no argument
        return
    rel = f"tmp/.rpm-script.{name}"
    # write_bytes creates a missing tmp, and follows a tmp symlink inside the root.
    # surrogateescape: a header's non-UTF-8 bytes go back into the file exactly as stored.
    root.write_bytes(rel, body.encode("utf-8", "surrogateescape"))
    try:
        runner.run([*prog, f"/{rel}", "1"])
    finally:
        root.unlink(rel)


def clean_db_leftovers(root: Root) -> list[str]:
    """Berkeley DB environment files and locks an rpm run leaves (rinse removes them too:
    stale __db.* files from another rpm version break the first `rpm -q` in the image).
    Returns the root-relative paths of the __db.* files removed."""
    removed = []
    if root.is_dir(RPM_DB):
        for rel in root.glob(f"{RPM_DB}/__db.*"):
            root.unlink(rel)
            removed.append(rel)
        # rpm makes both locks again when it needs them (.dbenv.lock: rpm 4.16 and later).
        # Not an sqlite rpmdb's -wal: it may hold what was never checkpointed into the file.
        for lock in (f"{RPM_DB}/.rpm.lock", f"{RPM_DB}/.dbenv.lock"):
            if root.exists(lock):
                root.unlink(lock)
    return removed
