"""Signature and digest checks of .rpm files, as `rpmkeys --checksig` does, with gpg underneath.

    check_rpm(path, keyrings, *, verify=True, log=None) -> RpmFile

Digests (always checked when present; any mismatch raises ChecksumError naming the package):
- SIGTAG_SHA1 / SIGTAG_SHA256: hex digest of the main header;
- SIGTAG_MD5 (16 bytes) and SIGTAG_SIZE: digest and length of header + payload;
- the main header's PAYLOADDIGEST (rpm >= 4.14): digest of the compressed payload.

Signatures (checked when `verify`): every OpenPGP signature the package carries must verify
against `keyrings` with gpgv (trust.openpgp.verify_detached): SIGTAG_RSA / SIGTAG_DSA cover the
main header; SIGTAG_PGP / SIGTAG_GPG cover header + payload. Unlike rpm 4.18, DSA-1024/SHA-1
signatures (CentOS 2–5) are accepted, and a key that expired since (all CentOS 2–6 keys) is
judged at the signature's own date, as for apt's archived releases: the keys are the ones the
repository configuration names, the releases are history. An unsigned package fails when
`verify` is set (yum's gpgcheck=1 refuses it too).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from bootstrap.adapters.yum.header import (
    PAYLOADDIGEST,
    PAYLOADDIGESTALGO,
    SIG_DSA,
    SIG_GPG,
    SIG_MD5,
    SIG_PGP,
    SIG_RSA,
    SIG_SHA1,
    SIG_SHA256,
    SIG_SIZE,
    RpmFile,
    read_rpm,
)
from bootstrap.errors import ChecksumError, VerificationError
from bootstrap.trust import verify_detached
from bootstrap.types import Log

# OpenPGP hash algorithm ids, as rpm stores them in PAYLOADDIGESTALGO.
_PGP_HASH = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
_HEADER_ONLY = ((SIG_RSA, "RSA header"), (SIG_DSA, "DSA header"))
_WHOLE = ((SIG_PGP, "RSA header+payload"), (SIG_GPG, "DSA header+payload"))


def check_rpm(path: Path, keyrings: Sequence[Path | str], *, verify: bool = True,
              log: Log | None = None) -> RpmFile:
    """Check digests and (when `verify`) signatures of the rpm at `path`; return its headers."""
    with open(path, "rb") as fh:
        rpm = read_rpm(fh)
        payload = fh.read()
    check_digests(rpm, payload)
    if verify:
        verify_signatures(rpm, payload, keyrings, log=log)
    return rpm


def _mismatch(rpm: RpmFile, what: str) -> ChecksumError:
    return ChecksumError(f"package {rpm.nevra}: {what} does not match: the file is corrupt or was altered",
                         hint="delete it from the cache and retry, or use another mirror")


def check_digests(rpm: RpmFile, payload: bytes) -> list[str]:
    """Check every digest the package carries; returns their names (for logs and tests)."""
    sig, checked = rpm.signature, []
    for tag, algo in ((SIG_SHA1, "sha1"), (SIG_SHA256, "sha256")):
        want = sig.string(tag) if sig.get(tag) is not None else ""
        if want:
            if hashlib.new(algo, rpm.header_bytes).hexdigest() != want.lower():
                raise _mismatch(rpm, f"header {algo.upper()} digest")
            checked.append(f"header-{algo}")
    md5 = sig.get(SIG_MD5)
    if isinstance(md5, bytes) and md5:
        if hashlib.md5(rpm.header_bytes + payload).digest() != md5:
            raise _mismatch(rpm, "header+payload MD5 digest")
        checked.append("md5")
    size = sig.ints(SIG_SIZE)
    if size and size[0] != len(rpm.header_bytes) + len(payload):
        raise _mismatch(rpm, f"size ({len(rpm.header_bytes) + len(payload)} bytes, header says {size[0]})")
    digests = rpm.header.strings(PAYLOADDIGEST)
    if digests:
        algo = _PGP_HASH.get((rpm.header.ints(PAYLOADDIGESTALGO) or [8])[0], "sha256")
        if hashlib.new(algo, payload).hexdigest() != digests[0].lower():
            raise _mismatch(rpm, f"payload {algo.upper()} digest")
        checked.append(f"payload-{algo}")
    return checked


def verify_signatures(rpm: RpmFile, payload: bytes, keyrings: Sequence[Path | str], *,
                      log: Log | None = None) -> list[str]:
    """Verify every OpenPGP signature of the package; returns the kinds verified."""
    found = []
    for tag, kind in _HEADER_ONLY + _WHOLE:
        blob = rpm.signature.get(tag)
        if not isinstance(blob, bytes) or not blob:
            continue
        data = rpm.header_bytes if (tag, kind) in _HEADER_ONLY else rpm.header_bytes + payload
        verify_detached(data, blob, keyrings, log=log, name=f"package {rpm.nevra} ({kind} signature)")
        found.append(kind)
    if not found:
        raise VerificationError(f"package {rpm.nevra} is not signed, and its repository asks for signed packages",
                                hint="use a signed mirror, set gpgcheck=0 for the repository, or --no-verify")
    return found
