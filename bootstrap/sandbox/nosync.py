"""Make fsync and its kin no-ops for the commands run inside a root being built.

Why: dpkg syncs its database after every status change and maintainer scripts call `sync`;
on a journaling filesystem that was a fifth of a minbase configure here. Durability means
nothing for a root that is packed into a tarball and deleted right after: if the machine
dies, the build is lost either way. systemd-nspawn's --suppress-sync does the same thing the
same way, mmdebstrap ships an eatmydata hook for it. A seccomp filter needs nothing inside
the target (eatmydata would have to be installed there, and exist for its release), works
for static binaries, and covers 32-bit (i386) processes on a 64-bit kernel too.

The filter answers 0 for sync, syncfs, fsync, fdatasync, sync_file_range and msync without
running them, and allows every other system call. Installing it needs CAP_SYS_ADMIN in the
caller's user namespace: mode root has it; mode unshare has it only inside its new namespace,
so there the filter is installed by `helper_argv`'s small Python program, run by `unshare`,
which then executes the real command (no_new_privs instead would break setuid helpers).
Linux only; the functions here only touch the calling process.
"""
from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000  # | errno; errno 0: the call "succeeds" without running

# BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06

# (AUDIT_ARCH_*, syscall numbers of sync, syncfs, fsync, fdatasync, sync_file_range, msync)
SYNC_CALLS: dict[str, tuple[int, tuple[int, ...]]] = {
    "x86_64": (0xC000003E, (162, 306, 74, 75, 277, 26)),
    "i386": (0x40000003, (36, 344, 118, 148, 314, 144)),
    "aarch64": (0xC00000B7, (81, 267, 82, 83, 84, 227)),
}


def filter_program() -> bytes:
    """The classic-BPF program, as struct sock_filter[] bytes.

    For each architecture: if seccomp_data.arch matches, compare seccomp_data.nr with each
    sync call (jump to the shared RET_ERRNO|0 at the end) else allow; unknown arch: allow.
    """
    blocks: list[list[tuple[int, int, int, int]]] = []
    for audit_arch, numbers in SYNC_CALLS.values():
        block = [(_JEQ_K, 0, 0, audit_arch),  # jf patched below: skip this block
                 (_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
        block += [(_JEQ_K, 0, 0, nr) for nr in numbers]  # jt patched below
        block.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
        blocks.append(block)
    program: list[tuple[int, int, int, int]] = []
    total = 1 + sum(len(b) for b in blocks) + 2  # load arch, blocks, allow, errno
    errno_at = total - 1
    for block in blocks:
        start = len(program) + 1  # after the leading "load arch"
        for i, (code, jt, jf, k) in enumerate(block):
            here = start + i
            if i == 0:
                jf = len(block) - 1  # to the next block's arch test
            elif code == _JEQ_K:
                jt = errno_at - here - 1
            program.append((code, jt, jf, k))
    program.insert(0, (_LD_W_ABS, 0, 0, 4))  # seccomp_data.arch
    program += [(_RET_K, 0, 0, SECCOMP_RET_ALLOW), (_RET_K, 0, 0, SECCOMP_RET_ERRNO | 0)]
    assert len(program) == total and all(jt < 256 for _, jt, _, _ in program)
    return b"".join(struct.pack("=HBBI", *ins) for ins in program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# Built once, in the parent: suppress_sync runs between fork and exec, where little is safe.
_PROGRAM = ctypes.create_string_buffer(filter_program())
_FPROG = _SockFprog((len(_PROGRAM) - 1) // 8, ctypes.addressof(_PROGRAM))
_LIBC = ctypes.CDLL(None, use_errno=True)


def suppress_sync() -> None:
    """Install the filter on the calling process (and so on everything it executes).
    Raises OSError if the kernel refuses (no seccomp, or no CAP_SYS_ADMIN)."""
    if _LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(_FPROG), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")


# Run as `python -I -S -c _HELPER THIS_FILE COMMAND...`: isolated and without site (fast, and
# nothing of the environment changes which code runs), loads this very file (not the package,
# whose __init__ would import more than the filter needs), filters, then becomes COMMAND.
_HELPER = """import os, sys, importlib.util
spec = importlib.util.spec_from_file_location("nosync", sys.argv[1])
nosync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nosync)
try:
    nosync.suppress_sync()
except OSError:
    pass
os.execvp(sys.argv[2], sys.argv[2:])
"""


def helper_argv(command: list[str]) -> list[str]:
    """`command` prefixed so that it runs under the filter (for callers that cannot install
    it in a preexec_fn, such as the child of `unshare`)."""
    return [sys.executable, "-I", "-S", "-c", _HELPER, str(Path(__file__).resolve()), *command]
