"""User namespaces for mode unshare: whether this host gives one (and, when not, why and what
would), the id map of a build, and whether this process already runs in the namespace made
for its build.

The map is mmdebstrap's: inside ids 0 → the building user, 1..n-1 → the user's subordinate
range of /etc/subuid and /etc/subgid (n ≥ 65536), written by newuidmap/newgidmap. A build of
mode unshare runs whole inside one such namespace (bootstrap.rootless), as uid 0 there.

Every check reads the host through a `Host` (its /proc, its /etc, its PATH, the user), so each
reason can be shown on a made-up host; nothing here changes the machine.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Set (by bootstrap.rootless) in the environment of a build re-executed in its namespace; its
# value is what auto mode said of the modes it passed over, one line each.
MARKER = "ROOTFS_BOOTSTRAP_USERNS"
MIN_IDS = 65536
CAP_SYS_ADMIN = 21
IDENTITY_MAP = ["0", "0", "4294967295"]
_CONTAINER_FIX = ("this runs in a container that does not allow nested user namespaces (podman: --security-opt "
                  "seccomp=unconfined --security-opt unmask=ALL / docker: --privileged, or give the runner a "
                  "subordinate range)")


class Reason(str):
    """Why a mode is not possible (the text itself) and `fix`, what would make it possible."""

    fix: str

    def __new__(cls, why: str, fix: str) -> Reason:
        made = super().__new__(cls, why)
        made.fix = fix
        return made


def _uid() -> int:
    return os.getuid()


@dataclass(frozen=True)
class Host:
    """What the checks read: the /proc and /etc to look in, the PATH tools are found on (None:
    the process's own), the user (by uid; `user` names it when the password file does not)."""

    proc: Path = Path("/proc")
    etc: Path = Path("/etc")
    path: str | None = None
    uid: int = field(default_factory=_uid)
    user: str | None = None

    def name(self) -> str:
        if self.user is not None:
            return self.user
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:  # a container's uid with no password entry: the files may give the number
            return str(self.uid)

    def sysctl(self, name: str) -> str | None:
        """/proc/sys/NAME (dots as slashes), stripped; None when the kernel has no such knob."""
        try:
            return (self.proc / "sys" / name.replace(".", "/")).read_text().strip()
        except OSError:
            return None

    def tool(self, name: str) -> str | None:
        return shutil.which(name, path=self.path)


@dataclass(frozen=True)
class IdMap:
    """The first subordinate uid and gid and how many of each the namespace maps (1..count-1)."""

    uid_start: int
    uid_count: int
    gid_start: int
    gid_count: int

    def argv(self) -> list[str]:
        """util-linux unshare's options for this map: 0 → the caller, 1.. → the range."""
        return ["--user", "--map-root-user", f"--map-users={self.uid_start},1,{self.uid_count - 1}",
                f"--map-groups={self.gid_start},1,{self.gid_count - 1}"]


def subordinate_range(path: Path, name: str, uid: int) -> tuple[int, int] | None:
    """(first id, count) of the user's first range of at least 65536 ids, as mmdebstrap
    requires; the file may name the user or give the numeric id."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (name, str(uid)) and fields[1].isdigit() \
                and fields[2].isdigit() and int(fields[2]) >= MIN_IDS:
            return int(fields[1]), int(fields[2])
    return None


def id_map(host: Host | None = None) -> IdMap | None:
    """The user's map, or None when /etc/subuid or /etc/subgid gives no range big enough."""
    host = host or Host()
    uids = subordinate_range(host.etc / "subuid", host.name(), host.uid)
    gids = subordinate_range(host.etc / "subgid", host.name(), host.uid)
    if uids is None or gids is None:
        return None
    return IdMap(uids[0], uids[1], gids[0], gids[1])


def initial_namespace(proc: Path = Path("/proc")) -> bool:
    """Whether this process is in the host's own user namespace (uid_map maps every id to
    itself); False in a container's namespace and in the one of a build."""
    try:
        lines = (proc / "self" / "uid_map").read_text().split("\n")
    except OSError:
        return True  # no user namespaces in this kernel at all
    return [line.split() for line in lines if line.strip()] == [IDENTITY_MAP]


def has_sys_admin(proc: Path = Path("/proc")) -> bool:
    """CAP_SYS_ADMIN in the effective set (mounting needs it, in this user namespace)."""
    try:
        for line in (proc / "self" / "status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def inside(environ: Mapping[str, str] | None = None, proc: Path = Path("/proc")) -> bool:
    """Whether this process is the root of the namespace bootstrap.rootless made for its build:
    the marker is set, and it is uid 0 of a user namespace that is not the host's. The build
    then runs as mode root runs, within what a user namespace allows."""
    environ = os.environ if environ is None else environ
    return MARKER in environ and os.geteuid() == 0 and not initial_namespace(proc)


def said_outside(environ: Mapping[str, str] | None = None) -> list[str]:
    """What auto mode said outside the namespace (the modes it passed over, the one chosen)."""
    environ = os.environ if environ is None else environ
    return [line for line in environ.get(MARKER, "").split("\n") if line]


def unshare_reason(host: Host | None = None) -> Reason | None:
    """None when this user can run a build in a user namespace here; else the first reason it
    cannot, in the order: tools, the kernel's switches (Debian's, Ubuntu's AppArmor, the
    namespace limit), the subordinate ranges, and then what trying says (a container)."""
    host = host or Host()
    return _static_reason(host) or _probe_reason(host)


def _static_reason(host: Host) -> Reason | None:
    """What the files say, before anything is run."""
    for tool, package in (("unshare", "util-linux"), ("newuidmap", "uidmap"), ("newgidmap", "uidmap")):
        if host.tool(tool) is None:
            return Reason(f"{tool} is not installed",
                          f"install the {package} package (Fedora: shadow-utils, Alpine: shadow-uidmap)"
                          if package == "uidmap" else f"install {package}")
    if host.uid != 0 and host.sysctl("kernel.unprivileged_userns_clone") == "0":
        return Reason("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)",
                      "sysctl kernel.unprivileged_userns_clone=1 (as root; a file in /etc/sysctl.d keeps it)")
    if host.uid != 0 and host.sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
        failed = _try(host, ["--user", "--map-root-user", "--mount"])
        if failed is not None:
            return Reason("AppArmor restricts unprivileged user namespaces "
                          f"(kernel.apparmor_restrict_unprivileged_userns=1: {failed})",
                          "sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile "
                          "that allows `userns,` for unshare (/etc/apparmor.d/)")
    if host.sysctl("user.max_user_namespaces") == "0":
        return Reason("user namespaces are disabled (user.max_user_namespaces=0)",
                      "sysctl user.max_user_namespaces=10000 (as root)")
    name = host.name()
    for kind in ("subuid", "subgid"):
        if subordinate_range(host.etc / kind, name, host.uid) is None:
            return Reason(f"no range of {MIN_IDS} subordinate ids for {name} in {host.etc / kind}",
                          f"add `{name}:100000:65536` to /etc/subuid and /etc/subgid (usermod --add-subuids "
                          f"100000-165535 --add-subgids 100000-165535 {name})")
    return None


def _probe_reason(host: Host) -> Reason | None:
    """Make the build's namespace once, with what each command then does in it (a pid
    namespace and its /proc): the kernel, seccomp and newuidmap have their say."""
    ids = id_map(host)
    assert ids is not None  # _static_reason saw both ranges
    failed = _try(host, [*ids.argv()[1:], "--mount", "--pid", "--fork", "--mount-proc"])
    if failed is None:
        return None
    # A container: in a user namespace of its own, or root without CAP_SYS_ADMIN (docker's).
    contained = not initial_namespace(host.proc) or (host.uid == 0 and not has_sys_admin(host.proc))
    if "Operation not permitted" in failed and contained:
        return Reason(f"user namespaces are refused here ({failed})", _CONTAINER_FIX)
    if "newuidmap" in failed or "newgidmap" in failed:
        return Reason(f"the id map was refused ({failed})",
                      f"newuidmap and newgidmap must be setuid root, and /etc/subuid and /etc/subgid give "
                      f"{host.name()} the range")
    return Reason(f"unshare failed ({failed})", "see unshare(1); or use --mode extract")


def _try(host: Host, options: list[str]) -> str | None:
    """Run `unshare OPTIONS true`: None when it worked, else its last line of error."""
    unshare = host.tool("unshare")
    assert unshare is not None
    try:
        done = subprocess.run([unshare, *options, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {done.returncode}"
