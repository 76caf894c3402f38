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
             "armel": "armv5tel", "ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
             "mips64el": "mips64", "mipsel": "mips", "loong64": "loongarch64", "all": ""},
    arch_independent=ARCH_INDEPENDENT,
    oci={"amd64": ("amd64", ""), "i386": ("386", ""), "arm64": ("arm64", "v8"), "armhf": ("arm", "v7"),
         "armel": ("arm", "v5"), "ppc64el": ("ppc64le", ""), "s390x": ("s390x", ""),
         "riscv64": ("riscv64", ""), "mips64el": ("mips64le", ""), "mipsel": ("mipsle", ""),
         "loong64": ("loong64", "")},
    # No prompts: debconf's noninteractive frontend, and its questions taken as seen.
    script_env={"DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"},
    host_mirrors=_host_mirrors,
    # SBOM: purl-spec's deb type keeps the epoch in the version; Packages has no licence field
    # (a package's licence is in /usr/share/doc/*/copyright, not in the index).
    purl_type="deb",
    supplier_fields=("Maintainer",),
    # OpenPGP keyrings as apt's trusted.gpg.d holds them: binary (.gpg) or armored (.asc).
    key_files=("*.gpg", "*.asc"),
)
