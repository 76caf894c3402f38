"""Keys against real signatures (gpgv): a vendor whose `main` is signed by its shipped key and
whose `extra` repository by another key. `--keyring EXTRA` used to replace the shipped key and
so broke `main`; it now adds to it (`keyring_only` keeps the old meaning), and a directory of
keys (binary .gpg and armored .asc) is its key files.

The vendor lives in a data root of its own (profiles/, repos.d/, keys/), as ROOTFS_BOOTSTRAP_DATA
names one; both repositories are served from one mirror on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.apt import AptAdapter
from bootstrap.errors import VerificationError
from bootstrap.fetch import Fetcher
from bootstrap.types import Profile
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

REPO = Path(__file__).resolve().parents[2]
PROFILE = """[mini]
vendor = mini
release = bookworm
arch = amd64
components = main
repos = main extra
variants = custom
variant = custom
"""
VENDOR = """[vendor]
family = apt
name = Mini
mirror_env = ROOTFS_BOOTSTRAP_MINI_MIRROR
keys = mini/main.gpg

[main]
url = $mirror/main
suite = $release
components = $components

[extra]
url = $mirror/extra
suite = $release
components = $components
"""


@dataclass(frozen=True)
class Vendor:
    data: Path  # the data root
    url: str  # the mirror
    main_home: Path  # GNUPGHOME of the key that signs main (shipped as keys/mini/main.gpg)
    extra_home: Path  # GNUPGHOME of the key that signs extra
    extra_key: Path  # its public keyring, what a user passes with --keyring


def _fingerprint(home: Path) -> str:
    out = subprocess.run(["gpg", "--list-keys", "--with-colons"], env={**os.environ, "GNUPGHOME": str(home)},
                         capture_output=True, text=True, check=True).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr"))


def _armored(home: Path, out: Path) -> Path:
    out.write_bytes(subprocess.run(["gpg", "--armor", "--export"], env={**os.environ, "GNUPGHOME": str(home)},
                                   capture_output=True, check=True).stdout)
    return out


@pytest.fixture
def vendor(tmp_path: Path) -> Iterator[Vendor]:
    main_key = make_key(tmp_path / "gnupg-main", "Mini Archive")
    extra_key = make_key(tmp_path / "gnupg-extra", "Extra Repository")
    debs = tmp_path / "debs"
    debs.mkdir()
    mirror = tmp_path / "mirror"
    build_repo(mirror / "main", [build_deb(Deb("base"), debs)], tmp_path / "gnupg-main")
    build_repo(mirror / "extra", [build_deb(Deb("hello-extra", fields={"Depends": "base"}), debs)],
               tmp_path / "gnupg-extra")
    data = tmp_path / "data"
    for sub, name, text in (("profiles", "mini.ini", PROFILE), ("repos.d", "mini.ini", VENDOR)):
        (data / sub).mkdir(parents=True)
        (data / sub / name).write_text(text)
    (data / "keys" / "mini").mkdir(parents=True)
    (data / "keys" / "mini" / "main.gpg").write_bytes(main_key.read_bytes())
    with Server(mirror) as server:
        yield Vendor(data, server.url, tmp_path / "gnupg-main", tmp_path / "gnupg-extra", extra_key)


def _profile(vendor: Vendor, keyrings: tuple[str, ...], keyring_only: bool = False) -> Profile:
    return config.load_profile("mini", config.Overrides(mirror=vendor.url, keyrings=keyrings,
                                                        keyring_only=keyring_only),
                               data_root=vendor.data, environ={})


def _signers(profile: Profile, cache: Path) -> dict[str, tuple[str, ...]]:
    """Each repository's index loaded (gpgv checks it): the keys that verified it, by id."""
    adapter = AptAdapter(profile)
    fetcher = Fetcher(cache)
    return {repo.id: adapter.load(repo, "amd64", fetcher, lambda line: None).trust.signers
            for repo in profile.repositories}


def test_an_extra_keyring_leaves_main_verified_by_the_shipped_key(vendor: Vendor, tmp_path: Path) -> None:
    """The whole command line: `resolve mini --keyring EXTRA` reads both repositories."""
    done = subprocess.run([sys.executable, "-m", "bootstrap", "resolve", "mini", "--mirror", vendor.url,
                           "--keyring", str(vendor.extra_key), "--include", "hello-extra",
                           "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "ROOTFS_BOOTSTRAP_DATA": str(vendor.data)})
    assert done.returncode == 0, done.stderr
    assert {line.split()[0] for line in done.stdout.splitlines()} == {"base", "hello-extra"}
    signers = _signers(_profile(vendor, (str(vendor.extra_key),)), tmp_path / "cache")
    assert signers == {"main": (_fingerprint(vendor.main_home),), "extra": (_fingerprint(vendor.extra_home),)}


def test_without_the_extra_key_only_extra_fails(vendor: Vendor, tmp_path: Path) -> None:
    profile = _profile(vendor, ())
    adapter, fetcher = AptAdapter(profile), Fetcher(tmp_path / "cache")
    main, extra = profile.repositories
    assert adapter.load(main, "amd64", fetcher, lambda line: None).trust.signers
    with pytest.raises(VerificationError) as err:
        adapter.load(extra, "amd64", fetcher, lambda line: None)
    assert "unknown key" in err.value.message


def test_keyring_only_keeps_the_old_meaning(vendor: Vendor, tmp_path: Path) -> None:
    """--keyring-only trusts the given keys alone: main, signed by the shipped key, fails."""
    profile = _profile(vendor, (str(vendor.extra_key),), keyring_only=True)
    adapter, fetcher = AptAdapter(profile), Fetcher(tmp_path / "cache")
    main, extra = profile.repositories
    assert main.keyrings == extra.keyrings == (str(vendor.extra_key),)
    assert adapter.load(extra, "amd64", fetcher, lambda line: None).trust.signers == (_fingerprint(vendor.extra_home),)
    with pytest.raises(VerificationError) as err:
        adapter.load(main, "amd64", fetcher, lambda line: None)
    assert "unknown key" in err.value.message


def test_a_directory_of_gpg_and_asc_keys(vendor: Vendor, tmp_path: Path) -> None:
    """A folder as apt's trusted.gpg.d holds keys: one binary, one armored, and a stray file."""
    keys = tmp_path / "trusted.gpg.d"
    keys.mkdir()
    (keys / "mini.gpg").write_bytes((vendor.data / "keys" / "mini" / "main.gpg").read_bytes())
    _armored(vendor.extra_home, keys / "extra.asc")
    (keys / "README").write_text("not a key\n")
    profile = _profile(vendor, (str(keys),), keyring_only=True)
    assert profile.repositories[0].keyrings == (str(keys / "extra.asc"), str(keys / "mini.gpg"))
    signers = _signers(profile, tmp_path / "cache")
    assert signers == {"main": (_fingerprint(vendor.main_home),), "extra": (_fingerprint(vendor.extra_home),)}
