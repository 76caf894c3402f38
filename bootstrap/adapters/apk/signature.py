"""apk's signatures (APKINDEX.tar.gz and .apk files): how they are stored and named.

An apk-signed file starts with a gzip stream holding one tar entry per signature:
`.SIGN.RSA.<key file name>` (PKCS#1 v1.5 over SHA-1, what abuild has always made),
`.SIGN.RSA256.<key file name>` (SHA-256, what apko/melange and newer abuild make) or
`.SIGN.RSA512.<key file name>` (SHA-512). Each signs the *compressed* bytes of the next gzip
stream (the control stream), not the whole file and not the decompressed text. A trusted key
is a PEM public key file named as the signature says
(`alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`), as apk keeps them in /etc/apk/keys.

The check itself (which signatures must verify, by which keys) is bootstrap.trust.rsa's; this
module only turns entry names into the records it checks. Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Entry-name prefix → the digest the signature was made over.
_PREFIXES = ((".SIGN.RSA256.", "sha256"), (".SIGN.RSA512.", "sha512"), (".SIGN.RSA.", "sha1"))


@dataclass(frozen=True)
class ApkSignature:
    """One `.SIGN.*` entry: the digest it uses (hashlib name), the key file it names, the
    signature bytes. A bootstrap.trust.rsa.NamedSignature."""

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
    """The signatures among tar members (name, data) of a signature stream, in order; other
    members are not signatures and are left out."""
    found = []
    for name, data in members:
        parsed = parse_signature_name(name)
        if parsed is not None:
            found.append(ApkSignature(parsed[0], parsed[1], data))
    return found
