"""The mounts a chroot needs (/proc, /sys, a private /dev, /dev/pts, /dev/shm), made and
undone safely.

The root's /dev is a fresh tmpfs with the handful of nodes maintainer scripts use, never a
bind of the host's /dev: a script writing to /dev/sda inside the build must not reach the
host's disk, and nothing is left in the image when the tmpfs goes. Mount points that are
symlinks are refused (a package shipping /proc -> /etc must not make us mount over the
host's /etc).
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

from bootstrap.errors import ConfigureError

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MNT_DETACH = 2
# (name, major, minor): what scripts open; all 0666 as on any Linux system.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
         ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


def check_mountpoint(root: Path, name: str) -> Path:
    """root/name as a real directory (created if missing, mode 0755); refuses symlinks."""
    path = root / name
    if path.is_symlink():
        raise ConfigureError(f"refusing to mount on {path}: it is a symbolic link",
                             hint="a package ships /{name} as a link; it cannot be a chroot")
    if not path.exists():
        path.mkdir(mode=0o755)
    elif not path.is_dir():
        raise ConfigureError(f"refusing to mount on {path}: it is not a directory")
    return path


class MountStack:
    """Mounts in order, undone in reverse; an unmount that fails (busy) falls back to a lazy
    detach so the tree never stays attached to the host."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.mounted: list[Path] = []
        self._libc = ctypes.CDLL(None, use_errno=True)

    def mount(self, source: str, target: Path, fstype: str, flags: int = 0, data: str = "") -> None:
        rc = self._libc.mount(source.encode(), str(target).encode(), fstype.encode(),
                              ctypes.c_ulong(flags), data.encode() if data else None)
        if rc != 0:
            err = ctypes.get_errno()
            raise ConfigureError(f"cannot mount {fstype} on {target}: {os.strerror(err)}",
                                 hint="mode root needs CAP_SYS_ADMIN; try --mode unshare or extract")
        self.mounted.append(target)

    def mount_all(self, root: Path) -> None:
        """proc, sysfs (read-only), tmpfs /dev with its nodes, devpts, /dev/shm."""
        self.mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        self.mount("sysfs", root / "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        dev = root / "dev"
        self.mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755")
        for name, major, minor in DEVICES:
            os.mknod(dev / name, 0o666 | 0o020000, os.makedev(major, minor))
            os.chmod(dev / name, 0o666)  # mknod honours the umask
        for name, target in LINKS:
            os.symlink(target, dev / name)
        (dev / "pts").mkdir()
        (dev / "shm").mkdir()
        self.mount("devpts", dev / "pts", "devpts", MS_NOSUID | MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620,gid=5")
        self.mount("tmpfs", dev / "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")

    def unmount_all(self) -> None:
        """Reverse order; lazy detach when busy. Never raises for a mount already gone."""
        while self.mounted:
            target = self.mounted.pop()
            if self._libc.umount2(str(target).encode(), 0) == 0:
                continue
            err = ctypes.get_errno()
            if err == 22:  # EINVAL: not a mount point any more
                continue
            self.log(f"umount {target}: {os.strerror(err)}; detaching lazily")
            self._libc.umount2(str(target).encode(), MNT_DETACH)


def unshare_script() -> str:
    """The shell run inside `unshare` (as root of the new user namespace): the same mounts
    as mount_all, with host device nodes bound in (mknod is not allowed in a user
    namespace) and /sys bound (sysfs needs a network namespace of our own); then chroot.
    $1 is the root, the rest the command. The mounts die with the namespace."""
    nodes = " ".join(name for name, _, _ in DEVICES)
    links = "\n".join(f'ln -s {target} "$r/dev/{name}"' for name, target in LINKS)
    return f"""set -e
r=$1; shift
mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
mount --rbind /sys "$r/sys"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$r/dev"
for n in {nodes}; do : > "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
{links}
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
exec chroot "$r" "$@"
"""
