"""The seccomp filter that turns sync calls into no-ops inside the root (bootstrap.sandbox.nosync)."""
from __future__ import annotations

import ctypes
import os
import struct

import pytest

from bootstrap.sandbox import nosync
from tests.core.test_configure import needs_root, tiny_root  # noqa: F401  (fixture)


def _run_bpf(program: bytes, arch: int, nr: int) -> int:
    """A classic-BPF interpreter for the three opcodes the filter uses, over seccomp_data."""
    insns = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    data = {0: nr, 4: arch}
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == nosync._LD_W_ABS:
            acc = data[k]
        elif code == nosync._JEQ_K:
            pc += jt if acc == k else jf
        elif code == nosync._RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("arch", sorted(nosync.SYNC_CALLS))
def test_filter_answers_zero_to_exactly_the_sync_calls_of_each_arch(arch: str) -> None:
    program = nosync.filter_program()
    audit, numbers = nosync.SYNC_CALLS[arch]
    for nr in range(0, 460):
        expected = nosync.SECCOMP_RET_ERRNO if nr in numbers else nosync.SECCOMP_RET_ALLOW
        assert _run_bpf(program, audit, nr) == expected, (arch, nr)
    assert _run_bpf(program, 0x12345678, numbers[0]) == nosync.SECCOMP_RET_ALLOW  # unknown arch


@pytest.mark.skipif(os.uname().machine != "x86_64" or os.geteuid() != 0,
                    reason="installs the filter in a forked child (needs root, x86_64 numbers)")
def test_installed_filter_skips_fsync_and_nothing_else() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what fsync(-1) and close(-1) return before and after
        libc = ctypes.CDLL(None, use_errno=True)
        results = [libc.fsync(-1), libc.close(-1)]
        nosync.suppress_sync()
        results += [libc.fsync(-1), libc.fdatasync(-1), libc.close(-1)]
        os.write(write_end, " ".join(map(str, results)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 100).decode().split() == ["-1", "-1", "0", "0", "-1"]


@needs_root
def test_commands_in_the_root_run_under_the_filter(tiny_root) -> None:  # noqa: F811
    from bootstrap.sandbox import ChrootRunner

    lines: list[str] = []
    with ChrootRunner(tiny_root, log=lines.append) as runner:
        runner.run(["/bin/sh", "-c", "while read key value; do [ $key = Seccomp: ] && echo $value; done "
                                     "< /proc/self/status; true"])
    assert lines == ["2"]  # SECCOMP_MODE_FILTER
