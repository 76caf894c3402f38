"""Alpine mirrors that cannot serve the build, told apart up front: a host that cannot be
reached (by name and reason), a branch without the target's architecture (the architectures it
has, from its listing), for the APKINDEX and for the minirootfs alike; the hint names --mirror
URL, $ROOTFS_BOOTSTRAP_ALPINE_MIRROR and the layout. And an index verified against a directory
of RSA keys laid out as /etc/apk/keys. A CDN-shaped mirror on 127.0.0.1 signed by a throwaway
key (tests/apk/apkrepo.py), and a `.invalid` name (RFC 2606)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.apk import ApkAdapter
from bootstrap.adapters.apk.seed import find_minirootfs
from bootstrap.errors import RepositoryNotFound, Unreachable
from bootstrap.fetch import Fetcher
from bootstrap.types import Profile
from tests.apk.apkrepo import ApkSpec, Key, make_apk, make_index, make_key
from tests.server import Server, free_port

HINT = "give another mirror with --mirror URL or $ROOTFS_BOOTSTRAP_ALPINE_MIRROR, laid out as "


@dataclass(frozen=True)
class Cdn:
    url: str
    key: Key


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[Cdn]:
    """v3.16/main/{x86_64,aarch64}/APKINDEX.tar.gz and v3.16/releases/x86_64/."""
    key = make_key(tmp_path / "keys")
    top = tmp_path / "mirror"
    for arch in ("x86_64", "aarch64"):
        where = top / "v3.16" / "main" / arch
        make_apk(ApkSpec("hello", arch=arch), key, where)
        make_index(where, key)
    (top / "v3.16" / "releases" / "x86_64").mkdir(parents=True)
    (top / "v3.16" / "releases" / "x86_64" / "latest-releases.yaml").write_text("---\n")
    with Server(top) as server:
        yield Cdn(server.url, key)


def _profile(mirror: str, arch: str = "x86_64", **overrides: object) -> Profile:
    return config.load_profile("alpine3.16", config.Overrides(arch=arch, mirror=mirror, **overrides),  # type: ignore[arg-type]
                               environ={})


def _fetcher(tmp_path: Path) -> Fetcher:
    return Fetcher(tmp_path / "cache", retries=0)


@pytest.mark.parametrize("host,reason", [("nosuch.invalid", "name resolution failed"),
                                         ("refused", "connection refused")])
def test_an_unreachable_mirror_is_named_with_the_layout(host: str, reason: str, tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}" if host == "refused" else host  # a port free now, not at collection
    profile = _profile(f"http://{host}/alpine")
    with pytest.raises(Unreachable) as err:
        ApkAdapter(profile).load(profile.repositories[0], "x86_64", _fetcher(tmp_path), lambda line: None)
    assert err.value.message == f"cannot reach {host} ({reason})"
    assert err.value.hint == HINT + "URL/v3.16/main/x86_64/APKINDEX.tar.gz"
    # The minirootfs, looked up first for the default variant, says the same of its own file.
    with pytest.raises(Unreachable) as seed:
        find_minirootfs(profile, "x86_64", _fetcher(tmp_path), lambda line: None, True)
    assert seed.value.message == f"cannot reach {host} ({reason})"
    assert seed.value.hint == HINT + "URL/v3.16/releases/x86_64/latest-releases.yaml"


def test_a_branch_without_the_arch_says_which_it_has(cdn: Cdn, tmp_path: Path) -> None:
    profile = _profile(cdn.url, "riscv64", keyrings=(str(cdn.key.public),))
    with pytest.raises(RepositoryNotFound) as err:
        ApkAdapter(profile).load(profile.repositories[0], "riscv64", _fetcher(tmp_path), lambda line: None)
    assert err.value.message == "Alpine Linux v3.16 has no riscv64 (it has: aarch64, x86_64)"
    assert err.value.hint == "choose one of them with --arch"
    with pytest.raises(RepositoryNotFound) as seed:
        find_minirootfs(profile, "riscv64", _fetcher(tmp_path), lambda line: None, True)
    assert seed.value.message == "Alpine Linux v3.16 has no riscv64 (it has: x86_64)"


def test_a_missing_repository_names_the_layout(cdn: Cdn, tmp_path: Path) -> None:
    profile = _profile(cdn.url, keyrings=(str(cdn.key.public),))
    community = profile.repositories[1]
    with pytest.raises(RepositoryNotFound) as err:
        ApkAdapter(profile).load(community, "x86_64", _fetcher(tmp_path), lambda line: None)
    assert err.value.message == f"no APKINDEX.tar.gz at {cdn.url}/v3.16/community/x86_64/APKINDEX.tar.gz"
    assert err.value.hint == "check the release and --arch, or " + HINT + "URL/v3.16/community/x86_64/APKINDEX.tar.gz"


@pytest.mark.parametrize("keyring_only", [True, False])
def test_an_index_verified_by_a_directory_of_keys(cdn: Cdn, tmp_path: Path, keyring_only: bool) -> None:
    """/etc/apk/keys as a folder: the signer's public key among a private one and a README."""
    keys = tmp_path / "etc-apk-keys"
    keys.mkdir()
    shutil.copy(cdn.key.public, keys / cdn.key.name)
    shutil.copy(cdn.key.private, keys / "signer.rsa.priv")
    (keys / "README").write_text("not a key\n")
    profile = _profile(cdn.url, keyrings=(str(keys),), keyring_only=keyring_only)
    main = profile.repositories[0]
    assert main.keyrings[-1] == str(keys / cdn.key.name) and (len(main.keyrings) == 1) == keyring_only
    index = ApkAdapter(profile).load(main, "x86_64", _fetcher(tmp_path), lambda line: None)
    assert index.trust.signers == (cdn.key.name,) and [p.name for p in index.packages] == ["hello"]
