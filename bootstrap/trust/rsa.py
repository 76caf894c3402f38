"""apk's RSA signatures (APKINDEX.tar.gz and .apk files), checked with `cryptography`.

An apk-signed file starts with a gzip stream holding one tar entry per signature:
`.SIGN.RSA.<key file name>` (PKCS#1 v1.5 over SHA-1, what abuild has always made) or
`.SIGN.RSA256.<key file name>` (SHA-256, what apko/melange and newer abuild make). Each signs
the *compressed* bytes of the next gzip stream (the control stream) — not the whole file, and
not the decompressed text. A trusted key is a PEM public key file named like the signature says
(`alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`), as apk keeps them in /etc/apk/keys.

Policy, as apk's (it uses the first signature whose key it trusts) made stricter: at least one
signature must be by a trusted key and verify; a signature by a trusted key that does *not*
verify is a forgery or corruption and fails the check even when another one verifies.
A key whose file name differs from the signature's key name is still tried, so a user's
`--keyring mykey.pub` works whatever the repository called it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bootstrap.errors import VerificationError

_PREFIXES = ((".SIGN.RSA256.", "sha256"), (".SIGN.RSA512.", "sha512"), (".SIGN.RSA.", "sha1"))
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class ApkSignature:
    """One `.SIGN.*` entry: the digest it uses, the key file it names, the signature bytes."""

    algo: str
    key_name: str
    signature: bytes


def parse_signature_name(name: str) -> tuple[str, str] | None:
    """(`sha1`|`sha256`|`sha512`, key name) for a `.SIGN.RSA*.` entry name, else None."""
    for prefix, algo in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return algo, name[len(prefix):]
    return None


def signatures_from_members(members: Sequence[tuple[str, bytes]]) -> list[ApkSignature]:
    """The signatures among tar members (name, data) of a signature stream."""
    found = []
    for name, data in members:
        parsed = parse_signature_name(name)
        if parsed is not None:
            found.append(ApkSignature(parsed[0], parsed[1], data))
    return found


def load_keys(paths: Sequence[str | Path]) -> dict[str, bytes]:
    """Trusted keys by file name: each path is a PEM public key file or a directory of them
    (`*.pub`). Missing paths are ignored here; verify() reports when no key is trusted."""
    keys: dict[str, bytes] = {}
    for entry in paths:
        path = Path(entry)
        files = sorted(path.glob("*.pub")) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            keys[file.name] = file.read_bytes()
    return keys


def _verify_one(key_pem: bytes, sig: ApkSignature, signed: bytes) -> bool:
    try:
        key = serialization.load_pem_public_key(key_pem)
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(sig.signature, signed, padding.PKCS1v15(), _HASHES[sig.algo]())
    except InvalidSignature:
        return False
    return True


def verify(signed: bytes, signatures: Sequence[ApkSignature], keys: Mapping[str, bytes], what: str,
           *, log: Callable[[str], None] | None = None) -> str:
    """Check `signatures` over `signed`; returns the name of the key that verified.

    Raises VerificationError naming `what` (`APKINDEX of <url>`, `package foo-1.0-r0`) when
    there is no signature, none is by a trusted key, or one by a trusted key is bad.
    """
    if not signatures:
        raise VerificationError(f"{what} is not signed",
                                hint="use a signed repository, or --no-verify to accept it unchecked")
    good = ""
    for sig in signatures:
        if sig.key_name in keys:
            if not _verify_one(keys[sig.key_name], sig, signed):
                raise VerificationError(f"{what}: bad signature by key {sig.key_name}",
                                        hint="the file was altered or corrupted; check the mirror")
            good = good or sig.key_name
    if not good:
        # The repository names its key differently from our file: try each trusted key.
        for sig in signatures:
            for name, pem in keys.items():
                if _verify_one(pem, sig, signed):
                    good = name
                    break
            if good:
                break
    if not good:
        names = ", ".join(s.key_name for s in signatures)
        raise VerificationError(f"{what} is signed by no trusted key (signed by: {names})",
                                hint="pass the repository's public key with --keyring FILE")
    if log is not None:
        log(f"{what}: signature by {good} verified")
    return good
