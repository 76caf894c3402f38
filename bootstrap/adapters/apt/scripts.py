"""The second stage for Debian roots: maintainer scripts, then `dpkg --configure -a`.

What debootstrap and mmdebstrap do with several `dpkg --install` rounds, done in one pass over
a root whose packages are all unpacked and registered `install ok unpacked`:

1. usr/sbin/policy-rc.d answers 101 (no service may start inside a build) and
   start-stop-daemon is replaced by a no-op (a daemon started by a postinst would keep the
   build's mounts busy); both are put back afterwards, even on failure.
2. Each package's preinst runs with `install`, as `dpkg --unpack` would have run it before
   unpacking. base-passwd's runs first: it writes /etc/passwd and /etc/group, which every
   other script that names a user or group needs, and no package declares a dependency on
   it (it is Essential). The Essential packages and what they need follow, then the rest,
   dependencies first (Pre-Depends, then Depends: install_order).
   Running them after the files are in place is safe: a fresh install's preinst only
   prepares (users, diversions, checks); none reads files of its own package.
3. `dpkg --configure -a` runs every postinst in dpkg's own dependency order and processes
   triggers; `dpkg --audit` then proves the database consistent.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from bootstrap.adapters import Installed, Runner
from bootstrap.adapters.apt.control import info_name
from bootstrap.errors import ConfigureError
from bootstrap.resolve import order as resolve_order
from bootstrap.root import Root
from bootstrap.types import Relation

POLICY_RC_D = b"#!/bin/sh\n# rootfs-bootstrap: no service starts while the image is built\nexit 101\n"
FAKE_SSD = (b"#!/bin/sh\necho 'Warning: fake start-stop-daemon called, doing nothing' >&2\n"
            b"exit 0\n")
_FIRST = ("base-passwd",)
_POLICY = "usr/sbin/policy-rc.d"
_REAL = ".REAL"  # start-stop-daemon.REAL: where the real one waits, as in debootstrap


def install_order(installed: Sequence[Installed]) -> list[Installed]:
    """The order preinsts run in: base-passwd first, then the Essential packages with all
    they depend on, then the rest. Within each group, dependencies come before dependants as
    bootstrap.resolve.order arranges them (Pre-Depends honoured inside cycles before Depends,
    ties and cycle breaks by name); a dependency is the first alternative that is installed,
    by name or (when no package has the name) by what a package provides."""
    keys = _keys(installed)
    by_key = dict(zip(keys, installed, strict=True))
    strong, weak = _graph(installed, keys)
    first = {k for k in keys if by_key[k].package.name in _FIRST}
    essential = _closure({k for k in keys if by_key[k].package.essential} - first, strong, weak, first)
    rest = set(keys) - first - essential
    ordered = sorted(first) + _ordered(essential, strong, weak) + _ordered(rest, strong, weak)
    return [by_key[k] for k in ordered]


def _keys(installed: Sequence[Installed]) -> list[str]:
    """A distinct name per item for resolve.order: the package name, `name:arch` when one name
    is installed for several architectures (Multi-Arch: same)."""
    names = Counter(i.package.name for i in installed)
    keys: list[str] = []
    seen: set[str] = set()
    for item in installed:
        pkg = item.package
        key = pkg.name if names[pkg.name] == 1 else f"{pkg.name}:{pkg.arch}"
        while key in seen:  # the same name and architecture twice: still each item once
            key += "+"
        seen.add(key)
        keys.append(key)
    return keys


def _graph(installed: Sequence[Installed], keys: list[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(Pre-Depends, Depends) edges between the items' keys. A name maps to the first item of
    that name (by name, then as given); a provided name to the first provider by name, and
    only where no item has it as its own name."""
    pairs = sorted(zip(keys, installed, strict=True), key=lambda ki: ki[1].package.name)
    by_name: dict[str, str] = {}
    for key, item in pairs:
        by_name.setdefault(item.package.name, key)
    for key, item in pairs:
        for provided in item.package.provides:
            by_name.setdefault(provided.name, key)

    def targets(groups: Sequence[Sequence[Relation]]) -> set[str]:
        found = (next((by_name[r.name] for r in group if r.name in by_name), None) for group in groups)
        return {key for key in found if key is not None}

    strong = {k: targets(i.package.pre_depends) for k, i in zip(keys, installed, strict=True)}
    weak = {k: targets(i.package.depends) for k, i in zip(keys, installed, strict=True)}
    return strong, weak


def _closure(start: set[str], strong: Mapping[str, set[str]], weak: Mapping[str, set[str]],
             placed: set[str]) -> set[str]:
    """`start` and everything it depends on, transitively, leaving out (and not walking
    through) what is `placed` already."""
    found, todo = set(start), list(start)
    while todo:
        key = todo.pop()
        for nxt in (strong[key] | weak[key]) - placed - found:
            found.add(nxt)
            todo.append(nxt)
    return found


def _ordered(keys: set[str], strong: Mapping[str, set[str]], weak: Mapping[str, set[str]]) -> list[str]:
    """resolve.order on the part of the graph inside `keys`: edges leading out of it point at
    packages already placed, so they are met."""
    return resolve_order.install_order({k: strong[k] & keys for k in keys},
                                       {k: weak[k] & keys for k in keys})


def configure(root: Root, installed: Sequence[Installed], runner: Runner) -> None:
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
def services_disabled(root: Root) -> Iterator[None]:
    """policy-rc.d = 101 and a no-op start-stop-daemon for the duration; what existed before
    is restored, whatever happens inside. The real start-stop-daemon is the first of
    usr/sbin and sbin (one directory on merged /usr) holding it as a regular file: a symlink
    there is not diverted, as renaming whatever it points to could break another program."""
    made_policy = False
    if not root.lexists(_POLICY):
        root.write_bytes(_POLICY, POLICY_RC_D, mode=0o755)
        made_policy = True
    moved: str | None = None
    try:
        for ssd in ("usr/sbin/start-stop-daemon", "sbin/start-stop-daemon"):
            if root.is_file(ssd) and not root.is_symlink(ssd) and not root.lexists(ssd + _REAL):
                root.rename(ssd, ssd + _REAL)
                moved = ssd  # from here on, the real one goes back whatever fails
                root.write_bytes(ssd, FAKE_SSD, mode=0o755)
                break
        yield
    finally:
        if made_policy:
            root.unlink(_POLICY)
        if moved is not None:
            root.rename(moved + _REAL, moved)
