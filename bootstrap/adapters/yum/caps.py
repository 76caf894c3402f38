"""File capabilities: rpm's FILECAPS text (`cap_net_raw=ep`) as the `security.capability` xattr. Pure.

rpm stores each file's capabilities in the header as cap_to_text() output, not in the cpio
payload, so the unpacker never sees them: the adapter encodes them here and sets the xattr,
as rpm's fsm does with cap_set_file. The encoding is the kernel's vfs_cap_data revision 2:
little-endian magic (0x02000000 | effective bit), then permitted/inheritable low words, then
permitted/inheritable high words.

Text cap_from_text() would refuse (an unknown name, a clause without operator, a flag other
than e/p/i, a capability number the format cannot hold) raises CapsError, an UnpackError:
the text comes from a package's header.
"""
from __future__ import annotations

import struct

from bootstrap.errors import UnpackError

XATTR = "security.capability"
# Linux capability numbers (include/uapi/linux/capability.h).
NAMES = [
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
]
_ALL = (1 << len(NAMES)) - 1
# vfs_cap_data revision 2 holds two 32-bit words per set: capabilities 0 to 63.
_WIDTH = 64
_HINT = "the package's FILECAPS header entry is damaged or names a capability unknown here"


class CapsError(UnpackError):
    """A FILECAPS text that cannot be turned into security.capability."""


def _caps(names: str) -> int:
    if names in ("", "all"):
        return _ALL
    bits = 0
    for name in names.split(","):
        name = name.strip().lower().removeprefix("cap_")
        if name.isascii() and name.isdigit() and int(name) < _WIDTH:
            bits |= 1 << int(name)
        elif name in NAMES:
            bits |= 1 << NAMES.index(name)
        else:
            raise CapsError(f"unknown capability {name!r}", hint=_HINT)
    return bits


def parse_caps(text: str) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) bit sets of a cap_from_text() string; CapsError
    when cap_from_text() would refuse it."""
    sets = {"e": 0, "p": 0, "i": 0}
    for clause in text.split():
        pos = min((i for i, ch in enumerate(clause) if ch in "=+-"), default=-1)
        if pos < 0:
            raise CapsError(f"capability clause {clause!r} has no operator", hint=_HINT)
        bits = _caps(clause[:pos])
        rest = clause[pos:]
        while rest:
            op, rest = rest[0], rest[1:]
            flags = ""
            while rest and rest[0] not in "=+-":
                flags, rest = flags + rest[0], rest[1:]
            if op == "=":
                for key in sets:
                    sets[key] &= ~bits
            for flag in flags:
                if flag not in sets:
                    raise CapsError(f"capability clause {clause!r}: unknown flag {flag!r} (e, p or i)",
                                    hint=_HINT)
                sets[flag] = sets[flag] | bits if op in "=+" else sets[flag] & ~bits
    return sets["e"], sets["p"], sets["i"]


def capability_xattr(text: str) -> bytes:
    """The security.capability value for FILECAPS `text`; b"" when it grants nothing.
    CapsError (an UnpackError) for text cap_from_text() would refuse."""
    effective, permitted, inheritable = parse_caps(text)
    if not (permitted or inheritable):
        return b""
    magic = 0x02000000 | (1 if effective else 0)
    return struct.pack("<IIIII", magic, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                       permitted >> 32, inheritable >> 32)
