"""The capabilities commands inside the root give up: the ones whose reach goes beyond the
build root even from inside a chroot and fresh PID and mount namespaces.

Maintainer scripts run as root, as dpkg, rpm and apk run them, but they only need to own,
chmod and setcap files of the root, switch users, and chroot. What they must not do from
there is mount (a mount namespace confines where mounts are seen, not what a mounted host
disk exposes), create device nodes (a block device is raw disk access), load modules, poke
raw I/O ports, reboot, set the clock, trace, make files immutable (the build root could no
longer be removed) or touch the network's, audit's and security modules' settings.
systemd-nspawn keeps a similar set and polices the rest with a device cgroup and a read-only
/sys; with no cgroup of our own, dropping them from the bounding set is the honest bound.

The drop happens in `setpriv --bounding-set`, between `unshare` (which still needs
CAP_SYS_ADMIN to mount the namespace's /proc) and `chroot` (CAP_SYS_CHROOT, kept): from the
chroot's exec on, neither the command nor anything it starts can regain them.
"""
from __future__ import annotations

import functools
import subprocess

DROPPED = ("sys_admin", "mknod", "sys_module", "sys_rawio", "sys_boot", "sys_time", "sys_ptrace",
           "sys_pacct", "sys_tty_config", "linux_immutable", "net_admin", "syslog", "mac_admin",
           "mac_override", "audit_control", "audit_read", "wake_alarm", "block_suspend", "bpf",
           "perfmon", "checkpoint_restore")


@functools.cache
def known_caps(setpriv: str) -> frozenset[str]:
    """The capability names this setpriv and kernel know (an older kernel lacks bpf,
    perfmon, checkpoint_restore: naming one it lacks would make setpriv refuse)."""
    done = subprocess.run([setpriv, "--list-caps"], capture_output=True, text=True)
    return frozenset(done.stdout.split()) if done.returncode == 0 else frozenset()


def drop_argv(setpriv: str) -> list[str]:
    """The argv prefix that runs the rest of the command line without DROPPED capabilities."""
    known = known_caps(setpriv)
    names = [name for name in DROPPED if name in known]
    return [setpriv, "--bounding-set", ",".join(f"-{name}" for name in names), "--"]
