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
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from bootstrap.errors import ConfigureError
from bootstrap.signals import signals_held

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC = 4096, 16384
MNT_DETACH = 2
# (name, major, minor): what scripts open; all 0666 as on any Linux system.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
         ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


def _unescape(field: str) -> str:
    """A path of /proc/self/mounts: space, tab, newline and backslash are octal escapes."""
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` (resolved), in mount table order (the last is the top)."""
    base = str(Path(path).resolve())
    with open("/proc/self/mounts", encoding="utf-8", errors="surrogateescape") as table:
        points = [_unescape(line.split()[1]) for line in table if len(line.split()) > 1]
    return [p for p in points if p == base or p.startswith(base + "/")]


def release_mounts_under(path: Path, log: Callable[[str], None] | None = None) -> list[str]:
    """Detach (umount -l) everything mounted at or below `path`, the latest (deepest) first,
    until nothing is left or nothing more can be detached. Returns what is still mounted."""
    libc = ctypes.CDLL(None, use_errno=True)
    left = mounts_under(path)
    while left:
        for point in reversed(left):
            if log is not None:
                log(f"detaching {point}")
            libc.umount2(point.encode(errors="surrogateescape"), MNT_DETACH)
        now = mounts_under(path)
        if len(now) >= len(left):
            return now
        left = now
    return []


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
        self._trees: set[Path] = set()  # recursive binds: detached whole, never unmounted one by one
        self._libc = ctypes.CDLL(None, use_errno=True)

    def mount(self, source: str, target: Path, fstype: str, flags: int = 0, data: str = "") -> None:
        with signals_held():  # mounted ⇒ recorded, so unmount_all sees it
            rc = self._libc.mount(source.encode(), str(target).encode(), fstype.encode() if fstype else None,
                                  ctypes.c_ulong(flags), data.encode() if data else None)
            if rc == 0:
                self.mounted.append(target)
                if flags & MS_REC:
                    self._trees.add(target)
        if rc != 0:
            err = ctypes.get_errno()
            raise ConfigureError(f"cannot mount {fstype} on {target}: {os.strerror(err)}",
                                 hint="mode root needs CAP_SYS_ADMIN; try --mode unshare or extract")

    def mount_all(self, root: Path, userns: bool = False) -> None:
        """An empty read-only tmpfs held on /proc (each command mounts the proc of its own PID
        namespace over it: the host's processes are never visible in the root, not even by
        unmounting), sysfs (read-only), tmpfs /dev with its nodes, devpts, /dev/shm.
        `userns`: this process is root of a user namespace, not of the host, where sysfs
        cannot be mounted (it needs a network namespace of our own) and mknod is refused:
        the host's /sys is bound instead (read-only is not needed: its files belong to ids
        the namespace does not map, which cannot be written from it) and so are its nodes."""
        self.mount("tmpfs", root / "proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0555,size=4k")
        if userns:
            # Recursive: a user namespace may not bind a tree without the mounts below it.
            self.mount("/sys", root / "sys", "", MS_BIND | MS_REC)
        else:
            self.mount("sysfs", root / "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        dev = root / "dev"
        self.mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755")
        for name, major, minor in DEVICES:
            if userns:
                os.close(os.open(dev / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                self.mount(f"/dev/{name}", dev / name, "", MS_BIND)
                continue
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
        with signals_held():
            self._unmount_all()

    def _unmount_all(self) -> None:
        while self.mounted:
            target = self.mounted.pop()
            if target in self._trees:
                self._trees.discard(target)
                self._libc.umount2(str(target).encode(), MNT_DETACH)
                continue
            if self._libc.umount2(str(target).encode(), 0) == 0:
                continue
            err = ctypes.get_errno()
            if err == 22:  # EINVAL: not a mount point any more
                continue
            self.log(f"umount {target}: {os.strerror(err)}; detaching lazily")
            self._libc.umount2(str(target).encode(), MNT_DETACH)


def unshare_script(drop: Sequence[str] = ()) -> str:
    """The shell run inside `unshare` (as root of the new user namespace): the same mounts
    as mount_all, with host device nodes bound in (mknod is not allowed in a user
    namespace) and /sys bound (sysfs needs a network namespace of our own); then chroot,
    through `drop` (an argv prefix that gives up capabilities). $1 is the root, the rest
    the command. The mounts die with the namespace."""
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
exec {" ".join(shlex.quote(word) for word in drop)} chroot "$r" "$@"
"""
