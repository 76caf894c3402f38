"""Profiles, repos.d and the host's apt sources."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.apt import hostapt
from bootstrap.errors import ConfigError, ProfileNotFound

SOURCES = """\
Types: deb
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
Components: main
"""


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(SOURCES)
    return tmp_path


def test_host_sources_deb822(etc: Path) -> None:
    assert hostapt.host_mirrors("debian", etc) == ("http://mirror.example.invalid/debian",
                                                   "http://mirror.example.invalid/debian-security")
    assert hostapt.host_mirrors("ubuntu", etc) == (None, None)


def test_host_sources_one_line(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.invalid/debian bookworm main\n"
        "deb-src http://m.invalid/debian bookworm main\n"
        "deb http://m.invalid/debian-security bookworm-security main\n")
    assert hostapt.host_mirrors("debian", tmp_path) == ("http://m.invalid/debian", "http://m.invalid/debian-security")


def test_profile_aliases_and_repositories(monkeypatch: pytest.MonkeyPatch, etc: Path) -> None:
    monkeypatch.setattr(hostapt, "APT_ETC", etc)
    profile = config.load_profile("debian12", environ={})
    assert profile.name == "debian-bookworm" and profile.family == "apt"
    assert [(r.id, r.url, r.suite) for r in profile.repositories] == [
        ("main", "http://mirror.example.invalid/debian", "bookworm"),
        ("updates", "http://mirror.example.invalid/debian", "bookworm-updates"),
        ("security", "http://mirror.example.invalid/debian-security", "bookworm-security")]
    assert profile.repositories[0].keyrings[0].endswith("keys/debian/debian-archive-keyring.gpg")
    assert profile.variants["buildd"] == ("apt", "build-essential")


def test_mirror_override_keeps_layout_and_drops_unknown_security(monkeypatch: pytest.MonkeyPatch,
                                                                   etc: Path) -> None:
    monkeypatch.setattr(hostapt, "APT_ETC", etc)
    profile = config.load_profile("debian-bookworm", config.Overrides(mirror="http://127.0.0.1:8/deb/"),
                                  environ={})
    assert [(r.id, r.url) for r in profile.repositories] == [("main", "http://127.0.0.1:8/deb"),
                                                             ("updates", "http://127.0.0.1:8/deb")]
    from_env = config.load_profile("debian-bookworm", environ={"ROOTFS_BOOTSTRAP_DEBIAN_MIRROR": "http://e.invalid/d"})
    assert from_env.repositories[0].url == "http://e.invalid/d"


def test_no_mirror_says_what_to_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    monkeypatch.setattr(hostapt, "APT_ETC", tmp_path)
    with pytest.raises(ConfigError) as err:
        config.load_profile("debian-bookworm", environ={})
    hint = err.value.hint or ""
    assert "--mirror" in hint and "ROOTFS_BOOTSTRAP_DEBIAN_MIRROR" in hint


def test_unknown_profile_suggests() -> None:
    with pytest.raises(ProfileNotFound) as err:
        config.load_profile("debian-bokworm", environ={})
    assert "debian-bookworm" in (err.value.hint or "")


def test_keyring_override_and_arch(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--keyring-only replaces the shipped keys (plain --keyring adds: tests/core/test_keyrings.py)."""
    monkeypatch.setattr(hostapt, "APT_ETC", etc)
    profile = config.load_profile("ubuntu-jammy", config.Overrides(arch="arm64", keyrings=("/k.gpg",),
                                                                   keyring_only=True, verify=False),
                                  environ={})
    assert profile.arch == "arm64"
    assert all(r.keyrings == ("/k.gpg",) and not r.verify for r in profile.repositories)


def test_every_profile_loads(monkeypatch: pytest.MonkeyPatch, etc: Path) -> None:
    """Each profile of every family resolves its templates (a mirror given for those that need one)."""
    monkeypatch.setattr(hostapt, "APT_ETC", etc)
    infos = config.list_profiles()
    assert {"debian-bookworm", "ubuntu-jammy"} <= {i.name for i in infos}
    for info in infos:
        profile = config.load_profile(info.name, config.Overrides(mirror="http://127.0.0.1:1/m"), environ={})
        assert profile.repositories, info.name
        assert all("$" not in r.url for r in profile.repositories), info.name
