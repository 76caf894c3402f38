"""The second stage for Debian roots: maintainer scripts, then `dpkg --configure -a`.

What debootstrap and mmdebstrap do with several `dpkg --install` rounds, done in one pass over
a root whose packages are all unpacked and registered `install ok unpacked`:

1. usr/sbin/policy-rc.d answers 101 (no service may start inside a build) and
   start-stop-daemon is replaced by a no-op (a daemon started by a postinst would keep the
   build's mounts busy); both are put back afterwards, even on failure.
2. Each package's preinst runs with `install`, as `dpkg --unpack` would have run it before
   unpacking. base-passwd's runs first: it writes /etc/passwd and /etc/group, which every
   other script that names a user or group needs, and no package declares a dependency on
   it (it is Essential). The rest follow Pre-Depends, then Depends, dependencies first.
   Running them after the files are in place is safe: a fresh install's preinst only
   prepares (users, diversions, checks); none reads files of its own package.
3. `dpkg --configure -a` runs every postinst in dpkg's own dependency order and processes
   triggers; `dpkg --audit` then proves the database consistent.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bootstrap.adapters import Installed, Runner
from bootstrap.errors import ConfigureError

POLICY_RC_D = b"#!/bin/sh\n# rootfs-bootstrap: no service starts while the image is built\nexit 101\n"
FAKE_SSD = (b"#!/bin/sh\necho 'Warning: fake start-stop-daemon called, doing nothing' >&2\n"
            b"exit 0\n")
_FIRST = ("base-passwd",)


def confined(root: Path, path: str) -> Path:
    """`path` inside `root` with every symlink resolved as the target system would see it:
    an absolute link target restarts at `root`, `..` never climbs above it."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and hops < 40:
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        else:
            resolved.append(part)
    return root.joinpath(*resolved)


def install_order(installed: Sequence[Installed]) -> list[Installed]:
    """Dependencies before dependants (Pre-Depends edges first, then Depends; cycles broken
    where they close), base-passwd first, ties by name."""
    by_name: dict[str, Installed] = {}
    for item in sorted(installed, key=lambda i: i.package.name):
        by_name.setdefault(item.package.name, item)
        for provided in item.package.provides:
            by_name.setdefault(provided.name, item)

    def edges(item: Installed) -> Iterator[Installed]:
        for dep in (*item.package.pre_depends, *item.package.depends):
            for relation in dep:
                if relation.name in by_name:
                    yield by_name[relation.name]
                    break

    starts = sorted(installed, key=lambda i: (i.package.name not in _FIRST, not i.package.essential,
                                              i.package.name))
    order: list[Installed] = list(i for i in starts if i.package.name in _FIRST)
    seen = {id(i) for i in order}
    for start in starts:
        if id(start) in seen:
            continue
        seen.add(id(start))
        stack = [(start, edges(start))]
        while stack:  # iterative depth-first walk: large sets must not hit the recursion limit
            item, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                order.append(item)
            elif id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append((nxt, edges(nxt)))
    return order


def configure(root: Path, installed: Sequence[Installed], runner: Runner) -> None:
    """Turn a registered root (all `install ok unpacked`) into a configured Debian system.

    Raises ConfigureError naming the package and script that failed.
    """
    with services_disabled(root):
        run_preinsts(install_order(installed), runner)
        try:
            runner.run(["dpkg", "--configure", "-a"])
            runner.run(["dpkg", "--audit"])
        except ConfigureError as err:
            raise _named(err, _who_failed(err)) from None


# One shell for every preinst: a chroot'd command costs a fork of this process and a wait for
# its process group, ~30 ms each, more than most preinsts themselves. The loop stops at the
# first failure and names the package on its last line, which _PREINST_FAILED reads back.
_PREINSTS = r"""
while [ $# -gt 0 ]; do
    DPKG_MAINTSCRIPT_PACKAGE=$1 DPKG_MAINTSCRIPT_ARCH=$2 "/var/lib/dpkg/info/$3.preinst" install \
        || { status=$?; echo "rootfs-bootstrap: preinst of $1 failed"; exit $status; }
    shift 3
done
"""
_PREINST_FAILED = re.compile(r"^rootfs-bootstrap: preinst of (\S+) failed$")


def run_preinsts(ordered: Sequence[Installed], runner: Runner) -> None:
    """Run `preinst install` of every package that has one, in `ordered`'s order, with the
    environment dpkg gives maintainer scripts; ConfigureError names the first that fails."""
    from bootstrap.adapters.apt.dpkg_db import info_name

    args: list[str] = []
    for item in ordered:
        if "preinst" in item.control:
            args += [item.package.name, item.package.arch, info_name(item)]
    if not args:
        return
    dpkg_version = next((i.package.version for i in ordered if i.package.name == "dpkg"), "")
    env = {"DPKG_MAINTSCRIPT_NAME": "preinst", "DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT": "1",
           "DPKG_RUNNING_VERSION": dpkg_version, "DPKG_ADMINDIR": "/var/lib/dpkg", "DPKG_ROOT": ""}
    try:
        runner.run(["/bin/sh", "-c", _PREINSTS, "rootfs-bootstrap-preinsts", *args], env=env)
    except ConfigureError as err:
        output = list(getattr(err, "output", ()) or ())
        match = _PREINST_FAILED.match(output[-1]) if output else None
        what = f"maintainer script preinst of package {match.group(1)}" if match else "the preinst scripts"
        if match:  # the marker is ours, not the script's: keep it out of what users see
            err.output = output[:-1]  # type: ignore[attr-defined]
            # The runner's hint ends with the same last line; nothing left but its heading: none.
            head, _, _ = (err.hint or "").rpartition("\n")
            err.hint = head if output[:-1] else None
        raise _named(err, what) from None


def _named(err: ConfigureError, what: str) -> ConfigureError:
    """The runner's error, re-worded to name the script: its exit and output stay."""
    status = getattr(err, "status", None)
    exit_text = f" (exit {status})" if status is not None else ""
    named = type(err)(f"{what} failed{exit_text}", err.hint)
    for attr in ("status", "output", "argv"):
        if hasattr(err, attr):
            setattr(named, attr, getattr(err, attr))
    return named


def _who_failed(err: ConfigureError) -> str:
    """dpkg says `error processing package X (--configure)`: name X's postinst."""
    text = "\n".join(getattr(err, "output", ()) or ()) + "\n" + (err.hint or "")
    match = re.search(r"error processing package (\S+) \(--configure\)", text)
    if match:
        return f"maintainer script postinst of package {match.group(1)}"
    if "--audit" in " ".join(getattr(err, "argv", ()) or ()):
        return "dpkg --audit (the package database is inconsistent)"
    return "dpkg --configure -a"


@contextmanager
def services_disabled(root: Path) -> Iterator[None]:
    """policy-rc.d = 101 and a no-op start-stop-daemon for the duration; what existed before
    is restored, whatever happens inside."""
    policy = root / "usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.lexists(policy):
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_bytes(POLICY_RC_D)
        policy.chmod(0o755)
        made_policy = True
    moved: Path | None = None
    for candidate in ("usr/sbin/start-stop-daemon", "sbin/start-stop-daemon"):
        ssd = confined(root, candidate)
        real = ssd.with_name("start-stop-daemon.REAL")
        if ssd.is_file() and not ssd.is_symlink() and not os.path.lexists(real):
            os.rename(ssd, real)
            ssd.write_bytes(FAKE_SSD)
            ssd.chmod(0o755)
            moved = ssd
            break
    try:
        yield
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
        if moved is not None:
            os.replace(moved.with_name("start-stop-daemon.REAL"), moved)
