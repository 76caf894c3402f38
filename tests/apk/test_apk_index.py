"""APKINDEX parsing and RSA signatures on real indexes (Alpine 3.16 x86_64, 3.17 aarch64,
apko's SHA-256 and triple-signed indexes), and resolution against the real 3.16 index with the
package sets apk-tools 2.12.9 itself chose (`apk add --simulate` into an empty root)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.adapters.apk.index import parse_apkindex, parse_depends, parse_relation, read_index_tarball
from bootstrap.adapters.apk.package import split_signed
from bootstrap.adapters.apk.signature import ApkSignature, parse_signature_name, signatures_from_members
from bootstrap.adapters.apk.version import apk_version_scheme
from bootstrap.errors import RepositoryIndexError, UnknownSigner, VerificationError
from bootstrap.trust import rsa
from bootstrap.types import Relation
from tests.apk.apkrepo import DATA, real

ALPINE_KEYS = Path(__file__).resolve().parents[2] / "keys" / "alpine"


def _load(index: Path, keys: list[Path], url: str = "http://mirror/v3.16/main", arch: str = "x86_64"):
    description, text = read_index_tarball(index.read_bytes(), rsa.load_keys(keys), str(index))
    return description, parse_apkindex(text, url, arch, "main")


def test_real_316_index_verifies_and_parses() -> None:
    description, packages = _load(real("alpine-316/APKINDEX.tar.gz"), [ALPINE_KEYS])
    assert description == "v3.16.3-13-g4d933a1fa3"
    assert len(packages) == 4929
    by_name = {p.name: p for p in packages}
    musl = by_name["musl"]
    assert Relation("so:libc.musl-x86_64.so.1", "=", "1") in musl.provides
    assert musl.location == f"http://mirror/v3.16/main/x86_64/musl-{musl.version}.apk"
    assert musl.field("C").startswith("Q1") and musl.size > 0 and musl.installed_size > 0
    busybox = by_name["busybox"]
    assert any(p.name == "cmd:busybox" for p in busybox.provides)
    # install_if, conflicts and provider_priority as the index gives them
    zsh_completion = by_name["git-zsh-completion"]
    assert zsh_completion.install_if == (Relation("zsh", "=", "5.8.1-r4"), Relation("git"))
    assert any(p.conflicts for p in packages)
    assert any(p.provider_priority > 0 for p in packages)
    assert sum(1 for p in packages if p.install_if) == 1538


def test_real_317_aarch64_index() -> None:
    description, packages = _load(real("alpine-317/APKINDEX.tar.gz"), [ALPINE_KEYS],
                                  "http://mirror/v3.17/main", "aarch64")
    assert len(packages) == 5004 and description.startswith("v3.17.3")
    assert {p.arch for p in packages} <= {"aarch64", "noarch"}


def test_sha256_and_triple_signed_indexes() -> None:
    _, listed = _load(DATA / "rsa256" / "APKINDEX.tar.gz", [DATA / "rsa256" / "test-rsa256.rsa.pub"])
    assert [p.name for p in listed] == ["alpine-baselayout"]
    signed = split_signed((DATA / "multisig" / "APKINDEX.tar.gz").read_bytes(), "multisig")
    assert [s.algo for s in signed.signatures] == ["sha256"] * 3
    keys = rsa.load_keys([DATA / "multisig" / "keys"])
    for one in keys:  # each of the three keys alone is enough
        rsa.verify(signed.control_stream, signed.signatures, {one: keys[one]}, "multisig")


def test_wrong_key_and_tampered_index_fail() -> None:
    index = (DATA / "testrepo" / "x86_64" / "APKINDEX.tar.gz").read_bytes()
    with pytest.raises(VerificationError, match="no trusted key"):
        read_index_tarball(index, rsa.load_keys([ALPINE_KEYS]), "testrepo")
    with pytest.raises(VerificationError, match="no trusted apk keys"):
        read_index_tarball(index, {}, "testrepo")
    keys = rsa.load_keys([DATA / "testrepo" / "melange.rsa.pub"])
    signed = split_signed(index, "testrepo")
    forged = signed.control_stream[:-9] + bytes([signed.control_stream[-9] ^ 1]) + signed.control_stream[-8:]
    with pytest.raises(VerificationError, match="bad signature"):
        rsa.verify(forged, signed.signatures, keys, "testrepo")
    unsigned = index[len(index) - len(signed.control_stream):]
    with pytest.raises(VerificationError, match="not signed"):
        read_index_tarball(unsigned, keys, "testrepo")
    # --no-verify: keys None reads it anyway
    assert "replayout" in read_index_tarball(unsigned, None, "testrepo")[1]
    with pytest.raises(RepositoryIndexError):
        read_index_tarball(b"not gzip at all", keys, "junk")


def test_signature_entry_names() -> None:
    assert parse_signature_name(".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub") == \
        ("sha1", "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub")
    assert parse_signature_name(".SIGN.RSA256.k.rsa.pub") == ("sha256", "k.rsa.pub")
    assert parse_signature_name(".SIGN.RSA512.k.rsa.pub") == ("sha512", "k.rsa.pub")
    assert parse_signature_name(".SIGN.RSA.") is None and parse_signature_name(".PKGINFO") is None
    members = [(".SIGN.RSA256.a.pub", b"sig"), ("DESCRIPTION", b"x")]
    assert signatures_from_members(members) == [ApkSignature("sha256", "a.pub", b"sig")]


def test_unknown_signer_is_told_apart_from_a_bad_signature() -> None:
    """UnknownSigner: no signature, or none by a key we hold; a bad one by a held key is not."""
    index = (DATA / "testrepo" / "x86_64" / "APKINDEX.tar.gz").read_bytes()
    signed = split_signed(index, "testrepo")
    with pytest.raises(UnknownSigner, match="no trusted key"):
        rsa.verify(signed.control_stream, signed.signatures, rsa.load_keys([ALPINE_KEYS]), "testrepo")
    with pytest.raises(UnknownSigner, match="not signed"):
        rsa.verify(signed.control_stream, [], rsa.load_keys([ALPINE_KEYS]), "testrepo")
    keys = rsa.load_keys([DATA / "testrepo" / "melange.rsa.pub"])
    with pytest.raises(VerificationError, match="bad signature") as bad:
        rsa.verify(signed.control_stream + b"x", signed.signatures, keys, "testrepo")
    assert not isinstance(bad.value, UnknownSigner)
    # A held key under another file name than the signature says still verifies.
    renamed = {"mine.rsa.pub": next(iter(keys.values()))}
    assert rsa.verify(signed.control_stream, signed.signatures, renamed, "testrepo") == "mine.rsa.pub"


def test_dependency_tokens() -> None:
    assert parse_relation("so:libc.musl-x86_64.so.1") == (Relation("so:libc.musl-x86_64.so.1"), False)
    assert parse_relation("busybox>=1.28.2-r1") == (Relation("busybox", ">=", "1.28.2-r1"), False)
    assert parse_relation("openssl>3") == (Relation("openssl", ">", "3"), False)
    assert parse_relation("python3~3.10") == (Relation("python3", "~", "3.10"), False)
    assert parse_relation("pc:libffi>=3.0.0")[0] == Relation("pc:libffi", ">=", "3.0.0")
    assert parse_relation("!sudo") == (Relation("sudo"), True)
    assert parse_relation("!foo<2") == (Relation("foo", "<", "2"), True)
    assert parse_relation("musl=1.2.3-r2")[0].op == "="
    depends, conflicts = parse_depends("cmd:sh !doas libfoo<2 bar<=3")
    assert [d[0].name for d in depends] == ["cmd:sh", "libfoo", "bar"] and conflicts == (Relation("doas"),)
    with pytest.raises(RepositoryIndexError):
        parse_relation("bad name")


# What apk-tools 2.12.9 installs for each request into an empty root from this index.
APK_CHOICES = {
    "alpine-base": "alpine-base alpine-baselayout alpine-baselayout-data alpine-conf alpine-keys apk-tools "
                   "busybox busybox-initscripts busybox-suid ca-certificates-bundle ifupdown-ng libc-utils "
                   "libcrypto1.1 libssl1.1 mdev-conf musl musl-utils openrc scanelf ssl_client zlib",
    "python3": "expat gdbm libbz2 libcrypto1.1 libffi libgcc libssl1.1 libstdc++ mpdecimal musl ncurses-libs "
               "ncurses-terminfo-base python3 readline sqlite-libs xz-libs zlib",
    "build-base": "binutils build-base file fortify-headers g++ gcc gmp isl22 libatomic libc-dev libgcc "
                  "libgomp libmagic libstdc++ make mpc1 mpfr4 musl musl-dev patch zlib",
}


@pytest.mark.parametrize("request_name", sorted(APK_CHOICES))
def test_resolve_like_apk(request_name: str) -> None:
    from bootstrap.resolve import resolve
    _, packages = _load(real("alpine-316/APKINDEX.tar.gz"), [ALPINE_KEYS])
    result = resolve(packages, [(Relation(request_name),)], apk_version_scheme("x86_64"))
    assert sorted(p.name for p in result.packages) == APK_CHOICES[request_name].split()
    assert not result.warnings
