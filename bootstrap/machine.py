"""What this host can run of a target's architecture, in `uname -m` words: whether its
binaries execute here (else mode extract), whether they need the 32-bit personality, and the
OCI platform of an image. The family says which machine each of its arch words is
(FamilyFacts.machine, FamilyFacts.oci); nothing here names a family."""
from __future__ import annotations

import os

from bootstrap.adapters import Adapter
from bootstrap.errors import PackError, UsageError
from bootstrap.report import Reporter

# Which machines (`uname -m`) each host machine executes natively; "" is arch-independent.
# The families say which machine each of their architecture words is (FamilyFacts.machine).
_RUNNABLE = {"x86_64": {"x86_64", "i686", ""}, "aarch64": {"aarch64", "armv7l", "armv6l", "armv5tel", ""}}
# Machines a 64-bit host runs under a 32-bit personality (setarch linux32).
_PERSONALITY32 = {"i686", "armv7l", "armv6l", "armv5tel"}


def machine(arch: str, adapter: Adapter) -> str:
    """The `uname -m` a CPU running `arch` reports, in the family's own mapping."""
    return adapter.facts.machine.get(arch, arch)


def personality(arch: str, adapter: Adapter) -> str | None:
    """linux32 for 32-bit targets on a 64-bit host, so `uname -m` and configure agree."""
    host = os.uname().machine
    return "linux32" if machine(arch, adapter) in _PERSONALITY32 and host in _RUNNABLE else None


def oci_platform(arch: str, adapter: Adapter) -> tuple[str, str]:
    """(architecture, variant) in OCI's words for the family's arch word; PackError if the
    family knows none."""
    found = adapter.facts.oci.get(arch)
    if found is None:
        raise PackError(f"no OCI architecture is known for {arch!r}",
                        hint=f"known: {', '.join(sorted(adapter.facts.oci))}")
    return found


def choose_mode(requested_mode: str, arch: str, adapter: Adapter, report: Reporter) -> str:
    """The configure mode: as asked, or for `auto` the best this machine allows."""
    from bootstrap.sandbox import detect_mode

    host = os.uname().machine
    runnable = machine(arch, adapter) in _RUNNABLE.get(host, {host, ""})
    if requested_mode == "auto" and not runnable:
        report.info(f"mode: extract ({arch} binaries cannot run on this {host} host)")
        return "extract"
    if requested_mode in ("root", "unshare") and not runnable:
        raise UsageError(f"mode {requested_mode} needs to run {arch} binaries, which this host cannot",
                         hint="use --mode extract")
    return detect_mode(requested_mode, report.info)
