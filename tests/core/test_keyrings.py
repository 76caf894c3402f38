"""Which keys each repository trusts (bootstrap.config): --keyring adds to the vendor's shipped
keys, --keyring-only replaces them, a directory stands for the key files in it (each family's
FamilyFacts.key_files); and the lock keeps keyring_only so a refresh trusts the same keys.
The signature checks themselves with such keys: tests/apt/test_apt_keyrings.py (gpgv),
tests/yum/test_yum_mirrors.py (rpm signatures), tests/apk/test_apk_mirrors.py (RSA)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bootstrap import config
from bootstrap.adapters import get_adapter
from bootstrap.buildplan import BuildOptions, Plan
from bootstrap.errors import ConfigError
from bootstrap.lock import Lock, LockOptions
from bootstrap.lock.fileformat import dumps, loads
from bootstrap.locked import lock_from_plan, options_of
from bootstrap.types import Profile

# Profiles that load without a mirror of their own (Debian's needs one: the host's sources).
PROFILES = {"apt": ("debian-bookworm", "http://m.invalid/debian"), "yum": ("centos7", None),
            "apk": ("alpine3.16", None)}


def _profile(family: str, **overrides: Any) -> Profile:
    name, mirror = PROFILES[family]
    return config.load_profile(name, config.Overrides(mirror=mirror, **overrides), environ={})


def _touch(directory: Path, *names: str) -> Path:
    directory.mkdir()
    for name in names:
        (directory / name).write_bytes(b"key\n")
    return directory


@pytest.mark.parametrize("family", sorted(PROFILES))
def test_a_keyring_adds_to_the_shipped_keys(family: str, tmp_path: Path) -> None:
    extra = tmp_path / "extra.key"
    extra.write_bytes(b"key\n")
    shipped = _profile(family).repositories
    given = _profile(family, keyrings=(str(extra),)).repositories
    assert [r.id for r in given] == [r.id for r in shipped]
    for before, after in zip(shipped, given, strict=True):
        assert before.keyrings and str(extra) not in before.keyrings
        assert after.keyrings == before.keyrings + (str(extra),)


@pytest.mark.parametrize("family", sorted(PROFILES))
def test_keyring_only_keeps_the_old_meaning(family: str, tmp_path: Path) -> None:
    extra = tmp_path / "extra.key"
    extra.write_bytes(b"key\n")
    for repo in _profile(family, keyrings=(str(extra),), keyring_only=True).repositories:
        assert repo.keyrings == (str(extra),)


def test_keyring_only_without_a_keyring_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        _profile("yum", keyring_only=True)
    assert "--keyring-only" in err.value.message and "--keyring" in (err.value.hint or "")


def test_a_key_given_twice_is_trusted_once(tmp_path: Path) -> None:
    shipped = _profile("yum").repositories[0].keyrings
    repo = _profile("yum", keyrings=(shipped[0], shipped[0])).repositories[0]
    assert repo.keyrings == shipped


@pytest.mark.parametrize("family,files,taken", [
    ("apt", ("b.asc", "a.gpg", "notes.txt", ".hidden.gpg", "a.gpg~"), ("a.gpg", "b.asc")),
    ("yum", ("RPM-GPG-KEY-test", "x.asc", "other.key", "k.gpg", "README"),
     ("RPM-GPG-KEY-test", "k.gpg", "other.key", "x.asc")),
    ("apk", ("b@x.org-2.rsa.pub", "a@x.org-1.rsa.pub", "README.md", "a.priv"),
     ("a@x.org-1.rsa.pub", "b@x.org-2.rsa.pub")),
])
def test_a_directory_stands_for_its_key_files(family: str, files: tuple[str, ...], taken: tuple[str, ...],
                                              tmp_path: Path) -> None:
    keys = _touch(tmp_path / "keys", *files)
    (keys / "sub.gpg").mkdir()  # a directory is no key, whatever its name
    repo = _profile(family, keyrings=(str(keys),), keyring_only=True).repositories[0]
    assert repo.keyrings == tuple(str(keys / name) for name in taken)


@pytest.mark.parametrize("family,pattern", [("apt", "*.gpg"), ("yum", "RPM-GPG-KEY-*"), ("apk", "*.pub")])
def test_a_directory_without_keys_is_a_clear_error(family: str, pattern: str, tmp_path: Path) -> None:
    empty = _touch(tmp_path / "empty", "README")
    with pytest.raises(ConfigError) as err:
        _profile(family, keyrings=(str(empty),))
    assert err.value.message == f"keyring directory {empty} holds no key file"
    assert pattern in (err.value.hint or "") and family in (err.value.hint or "")


def test_the_shipped_alpine_key_directory_is_its_keys() -> None:
    keys = _profile("apk").repositories[0].keyrings
    folder = config.DATA_ROOT / "keys" / "alpine"
    assert keys == tuple(str(p) for p in sorted(folder.glob("*.pub"))) and len(keys) > 10


def _lock(options: LockOptions) -> Lock:
    return Lock("centos7", "yum", "centos", "7.9.2009", "x86_64", options, (), ())


def test_the_lock_keeps_keyring_only() -> None:
    only = _lock(LockOptions("default", keyrings=("/k/a.key",), keyring_only=True))
    text = dumps(only)
    assert '"keyring_only": true' in text and loads(text).options.keyring_only is True
    plain = dumps(_lock(LockOptions("default", keyrings=("/k/a.key",))))
    # Not written when false: a lock of a build without it has the bytes it always had.
    assert "keyring_only" not in plain and loads(plain).options.keyring_only is False
    assert loads(text.replace(', "keyring_only": true', "")).options.keyring_only is False


def test_a_refresh_uses_the_locks_keyring_only_unless_it_gives_keys() -> None:
    lock = _lock(LockOptions("default", keyrings=("/k/a.key",), keyring_only=True))
    assert options_of(lock).keyring_only is True
    assert options_of(lock, keyring_only=None, keyrings=None).keyrings == ("/k/a.key",)
    assert options_of(lock, keyring_only=None).keyring_only is True
    # New keys given to the refresh bring their own meaning: added, unless it says only.
    assert options_of(lock, keyrings=("/k/b.key",)).keyring_only is False
    assert options_of(lock, keyrings=("/k/b.key",), keyring_only=True).keyring_only is True
    plain = replace(lock, options=replace(lock.options, keyring_only=False))
    assert options_of(plain, keyring_only=True).keyring_only is True


def test_a_lock_records_keyring_only(tmp_path: Path) -> None:
    key = tmp_path / "a.key"
    key.write_bytes(b"key\n")
    profile = _profile("yum", keyrings=(str(key),), keyring_only=True)
    the_plan = Plan(profile, get_adapter("yum", profile), "default", [])
    opts = BuildOptions("centos7", keyrings=(str(key),), keyring_only=True)
    assert lock_from_plan(the_plan, opts).options == LockOptions("default", keyrings=(str(key),), keyring_only=True)
    assert options_of(lock_from_plan(the_plan, opts)).keyring_only is True
