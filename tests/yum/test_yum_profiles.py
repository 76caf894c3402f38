"""The yum vendors' profiles: names as people say them, vault layout, keys that exist."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import config


@pytest.mark.parametrize("name,release,arch,url", [
    ("centos4.3", "4.3", "i386", "https://vault.centos.org/4.3/os/i386/"),
    ("centos4", "4.9", "i386", "https://vault.centos.org/4.9/os/i386/"),
    ("centos7", "7.9.2009", "x86_64", "https://vault.centos.org/7.9.2009/os/x86_64/"),
    ("centos8", "8.5.2111", "x86_64", "https://vault.centos.org/8.5.2111/BaseOS/x86_64/os/"),
    ("fedora-core3", "3", "i386", "https://dl.fedoraproject.org/pub/archive/fedora/linux/core/3/i386/os/"),
    ("fedora40", "40", "x86_64", "https://dl.fedoraproject.org/pub/fedora/linux/releases/40/Everything/x86_64/os/"),
    ("rocky9", "9", "x86_64", "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/"),
    ("alma9", "9", "x86_64", "https://repo.almalinux.org/almalinux/9/BaseOS/x86_64/os/"),
])
def test_profiles(name: str, release: str, arch: str, url: str) -> None:
    prof = config.load_profile(name, environ={})
    assert (prof.family, prof.release, prof.arch, prof.repositories[0].url) == ("yum", release, arch, url)
    assert {"default", "minimal", "custom"} <= set(prof.variants)
    for repo in prof.repositories:
        assert all(Path(k).is_file() for k in repo.keyrings), repo.keyrings


def test_mirror_keeps_the_vault_layout_and_optional_repos() -> None:
    prof = config.load_profile("centos4.3", config.Overrides(mirror="http://127.0.0.1:8/vault"), environ={})
    urls = {r.id: (r.url, r.optional) for r in prof.repositories}
    assert urls == {"base": ("http://127.0.0.1:8/vault/4.3/os/i386/", False),
                    "updates": ("http://127.0.0.1:8/vault/4.3/updates/i386/", True),
                    "addons": ("http://127.0.0.1:8/vault/4.3/addons/i386/", True),
                    "extras": ("http://127.0.0.1:8/vault/4.3/extras/i386/", True)}
    assert "yum" in prof.variants["default"] and "centos-release" in prof.variants["default"]
    assert prof.repositories[0].keyrings[0].endswith("keys/centos/RPM-GPG-KEY-CentOS-4")
