"""The apt family's fixed facts, read by shared code through FamilyFacts."""
from __future__ import annotations

from bootstrap.adapters import FamilyFacts


def _host_mirrors(kind: str) -> tuple[str | None, str | None]:
    # Imported here: python-debian and the host's files cost start-up time that only a build
    # without --mirror needs.
    from bootstrap.adapters.apt import hostapt

    return hostapt.host_mirrors(kind)


ARCH_INDEPENDENT = frozenset({"all"})

FACTS = FamilyFacts(
    family="apt",
    host_arch={"x86_64": "amd64", "i686": "i386", "aarch64": "arm64", "armv7l": "armhf",
               "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"},
    machine={"amd64": "x86_64", "i386": "i686", "arm64": "aarch64", "armhf": "armv7l",
             "armel": "armv7l", "ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
             "all": ""},
    arch_independent=ARCH_INDEPENDENT,
    # No prompts: debconf's noninteractive frontend, and its questions taken as seen.
    script_env={"DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"},
    host_mirrors=_host_mirrors,
)
