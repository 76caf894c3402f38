"""What this host can run of a target's architecture, in `uname -m` words: whether its
binaries execute here (else mode extract), whether they need the 32-bit personality, and the
OCI platform of an image. The family says which machine each of its arch words is
(FamilyFacts.machine, FamilyFacts.oci); nothing here names a family."""
from __future__ import annotations

import os
from pathlib import Path

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


# qemu-user's name for each `uname -m` (binfmt_misc entries are called qemu-NAME).
_QEMU = {"i686": "i386", "armv7l": "arm", "armv6l": "arm", "armv5tel": "arm", "aarch64": "aarch64",
         "x86_64": "x86_64", "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
         "mips64el": "mips64el", "mipsel": "mipsel", "loongarch64": "loongarch64"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def qemu_binfmt(target: str, binfmt: Path = BINFMT) -> tuple[str | None, str]:
    """(the interpreter, "") when binfmt_misc runs `target` (`uname -m`) binaries through
    qemu-user in a chroot, else (None, why not). Only an enabled entry with the F flag counts:
    the kernel then opened the interpreter when it was registered, so it need not exist in
    the build root (qemu-user-static with binfmt-support registers it so)."""
    name = f"qemu-{_QEMU.get(target, target)}"
    try:
        text = (binfmt / name).read_text()
    except OSError:
        return None, f"no binfmt_misc entry {name} (install qemu-user-static to run its scripts)"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value
    if "enabled" not in fields:
        return None, f"binfmt_misc entry {name} is disabled"
    if "F" not in fields.get("flags:", ""):
        return None, f"binfmt_misc entry {name} lacks the F flag (its interpreter is not usable in a chroot)"
    return fields.get("interpreter", "").strip() or name, ""


def check_mode_early(requested_mode: str) -> None:
    """Refuse, before any index is read, a mode this machine cannot give whatever the target:
    `--mode root` when not root (or chroot fails), `--mode unshare` without user namespaces
    or subordinate ids, an unknown mode: the UsageError choose_mode would raise after the
    whole resolution. `auto` and `extract` are always possible and pass; what depends on the
    target's architecture (qemu-user) is still choose_mode's to decide."""
    from bootstrap.sandbox import detect_mode

    if requested_mode not in ("auto", "extract"):
        detect_mode(requested_mode, lambda line: None)


def choose_mode(requested_mode: str, arch: str, adapter: Adapter, report: Reporter,
                binfmt: Path = BINFMT) -> str:
    """The configure mode: as asked, or for `auto` the best this machine allows. A target
    this host cannot run natively runs through qemu-user where binfmt_misc offers it (said
    so), else is built in extract mode (auto) or refused (root, unshare)."""
    from bootstrap.sandbox import detect_mode

    host = os.uname().machine
    target = machine(arch, adapter)
    if target not in _RUNNABLE.get(host, {host, ""}):
        interpreter, why = qemu_binfmt(target, binfmt)
        if interpreter is None:
            if requested_mode in ("root", "unshare"):
                raise UsageError(f"mode {requested_mode} needs to run {arch} binaries, which this host cannot: "
                                 f"{why}", hint="use --mode extract, or register qemu-user-static")
            report.info(f"mode: extract ({arch} binaries cannot run on this {host} host: {why})")
            return "extract"
        report.info(f"{arch} binaries run through qemu-user ({interpreter})")
    return detect_mode(requested_mode, report.info)
