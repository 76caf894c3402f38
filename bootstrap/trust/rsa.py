"""Bare RSA signatures (PKCS#1 v1.5, no OpenPGP packet around them), checked with `cryptography`.

A format that signs this way hands over the signed bytes and its signatures, each naming the
digest it was made with (a hashlib name: `sha1`, `sha256`, `sha512`) and the key that made it;
the keys we trust are PEM public key files, known by file name. How a format stores its
signatures and names its keys is the format's business (its adapter parses that).

Policy, stricter than "any one verifies": at least one signature must be by a trusted key and
verify; a signature by a trusted key that does *not* verify is a forgery or corruption and fails
the check even when another one verifies. When no signature names a key we hold, every trusted
key is tried on every signature, so a user's `--keyring mykey.pub` works whatever the signer
called it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bootstrap.errors import UnknownSigner, VerificationError
from bootstrap.types import Log

# Digest objects are stateless descriptions; one of each serves every check.
_HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(),
                                            "sha512": hashes.SHA512()}


class NamedSignature(Protocol):
    """What verify() needs of one signature: the digest's hashlib name (`sha1`, `sha256`,
    `sha512`), the name of the key that made it, and the signature bytes."""

    @property
    def algo(self) -> str: ...

    @property
    def key_name(self) -> str: ...

    @property
    def signature(self) -> bytes: ...


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


def _verify_one(key_pem: bytes, sig: NamedSignature, signed: bytes) -> bool:
    """Whether `sig` over `signed` verifies with the RSA key `key_pem` (False for a key that is
    not an RSA public key: it cannot have made this signature)."""
    try:
        key = serialization.load_pem_public_key(key_pem)
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(sig.signature, signed, padding.PKCS1v15(), _HASHES[sig.algo])
    except InvalidSignature:
        return False
    return True


def _by_any_key(signed: bytes, signatures: Sequence[NamedSignature], keys: Mapping[str, bytes]) -> str:
    """The first trusted key (by name) that verifies any of `signatures`, or ""."""
    for sig in signatures:
        for name, pem in keys.items():
            if _verify_one(pem, sig, signed):
                return name
    return ""


def verify(signed: bytes, signatures: Sequence[NamedSignature], keys: Mapping[str, bytes], what: str,
           *, log: Log | None = None) -> str:
    """Check `signatures` over `signed` against `keys` (name → PEM); returns the name of the
    key that verified.

    Raises, naming `what` (`the index of <url>`, `package foo-1.0`): VerificationError when
    a signature by a trusted key is bad; UnknownSigner (a VerificationError) when there is no
    signature or none verifies by a trusted key. ValueError for a digest name it does not know
    (the caller's parsing is wrong, not the file).
    """
    unknown = sorted({sig.algo for sig in signatures} - set(_HASHES))
    if unknown:
        raise ValueError(f"{what}: unknown signature digest {', '.join(unknown)}")
    if not signatures:
        raise UnknownSigner(f"{what} is not signed",
                            hint="use a signed repository, or --no-verify to accept it unchecked")
    good = ""
    for sig in signatures:
        if sig.key_name in keys:
            if not _verify_one(keys[sig.key_name], sig, signed):
                raise VerificationError(f"{what}: bad signature by key {sig.key_name}",
                                        hint="the file was altered or corrupted; check the mirror")
            good = good or sig.key_name
    # None names a key we hold: the signer may call its key differently from our file.
    good = good or _by_any_key(signed, signatures, keys)
    if not good:
        names = ", ".join(s.key_name for s in signatures)
        raise UnknownSigner(f"{what} is signed by no trusted key (signed by: {names})",
                            hint="pass the repository's public key with --keyring FILE")
    if log is not None:
        log(f"{what}: signature by {good} verified")
    return good
