"""Each family's fixed facts, as shared code reads them (FamilyFacts)."""
from __future__ import annotations

import pytest

from bootstrap import adapters
from bootstrap.adapters import get_adapter
from bootstrap.errors import PackError
from bootstrap.machine import oci_platform, personality

FAMILIES = sorted(adapters.REGISTRY)


def test_oci_architectures() -> None:
    """Every family's words for the common machines map to OCI's."""
    words = {("apt", "amd64"): "amd64", ("yum", "x86_64"): "amd64", ("apt", "i386"): "386",
             ("yum", "i686"): "386", ("apk", "x86"): "386", ("apt", "arm64"): "arm64",
             ("yum", "aarch64"): "arm64", ("apt", "armhf"): "arm", ("apt", "ppc64el"): "ppc64le",
             ("yum", "ppc64le"): "ppc64le", ("apt", "s390x"): "s390x", ("apk", "riscv64"): "riscv64"}
    assert {key: oci_platform(key[1], get_adapter(key[0]))[0] for key in words} == words
    assert oci_platform("armhf", get_adapter("apt")) == ("arm", "v7")
    assert oci_platform("armhf", get_adapter("apk")) == ("arm", "v6")  # Alpine's armhf is ARMv6
    with pytest.raises(PackError, match="no OCI architecture is known for 'noarch'"):
        oci_platform("noarch", get_adapter("yum"))


@pytest.mark.parametrize("family", FAMILIES)
def test_facts_agree_with_themselves(family: str) -> None:
    facts = adapters.facts(family)
    assert facts.family == family
    # The host's own machine, in the family's word, runs as that machine again.
    for machine, word in facts.host_arch.items():
        assert facts.machine[word] in (machine, "i686"), (word, machine)
    # Arch-independent words run anywhere (no machine) and are no image platform.
    assert all(facts.machine[word] == "" for word in facts.arch_independent)
    assert not set(facts.oci) & facts.arch_independent
    assert set(facts.oci) <= set(facts.machine)


def test_32_bit_targets_run_under_linux32(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    class Uname:
        machine = "x86_64"

    monkeypatch.setattr(os, "uname", lambda: Uname())
    assert personality("i386", get_adapter("apt")) == "linux32"
    assert personality("i686", get_adapter("yum")) == "linux32"
    assert personality("x86", get_adapter("apk")) == "linux32"
    assert personality("amd64", get_adapter("apt")) is None
    assert personality("noarch", get_adapter("yum")) is None


def test_unknown_family() -> None:
    from bootstrap.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown package family 'pkgsrc'"):
        adapters.facts("pkgsrc")
