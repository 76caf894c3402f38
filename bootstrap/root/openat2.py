"""openat2(2) with RESOLVE_IN_ROOT through ctypes: the kernel resolves a root-relative path as
a chrooted process would (absolute symlink targets restart at the root, `..` stops at it),
in one call, so no symlink swapped in between a check and a use can lead out of the root.

`available()` says whether this kernel (and its seccomp filter) has it; callers fall back to
the lstat walk (`Confined`) when not.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
from functools import cache

# include/uapi/linux/openat2.h
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS

# The generic syscall table (aarch64, riscv64, ...) and x86_64 share the number since 5.6.
_NR = {"x86_64": 437, "aarch64": 437, "arm64": 437, "riscv64": 437, "ppc64le": 437,
       "s390x": 437, "i686": 437, "i386": 437, "armv7l": 437}


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0, resolve: int = IN_ROOT) -> int:
    """A new descriptor (O_CLOEXEC added) for `path` resolved from `dir_fd` under `resolve`;
    failures are OSError as os.open raises them."""
    nr = _NR.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, "openat2 is not known on this architecture", path)
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path) if path else b"."
    # EAGAIN: RESOLVE_IN_ROOT refuses `..` while a rename is in flight elsewhere; retry.
    for _ in range(64):
        fd = _syscall(ctypes.c_long(nr), ctypes.c_int(dir_fd), ctypes.c_char_p(raw),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


@cache
def available() -> bool:
    """Whether openat2 with RESOLVE_IN_ROOT works here (absent before Linux 5.6, or refused
    by a seccomp filter with ENOSYS or EPERM)."""
    top = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(openat2(top, ".", os.O_PATH | os.O_DIRECTORY))
    except OSError:
        return False
    finally:
        os.close(top)
    return True
