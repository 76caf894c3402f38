"""The yum family's fixed facts, read by shared code through FamilyFacts."""
from __future__ import annotations

from bootstrap.adapters import FamilyFacts

ARCH_INDEPENDENT = frozenset({"noarch"})

FACTS = FamilyFacts(
    family="yum",
    host_arch={"x86_64": "x86_64", "i686": "i386", "aarch64": "aarch64", "ppc64le": "ppc64le",
               "s390x": "s390x"},
    machine={"x86_64": "x86_64", "i386": "i686", "i486": "i686", "i586": "i686", "i686": "i686",
             "athlon": "i686", "aarch64": "aarch64", "armv7hl": "armv7l", "armv6hl": "armv6l", "ppc64le": "ppc64le",
             "s390x": "s390x", "ppc64": "ppc64", "riscv64": "riscv64", "loongarch64": "loongarch64",
             "noarch": ""},
    arch_independent=ARCH_INDEPENDENT,
    oci={"x86_64": ("amd64", ""), "i386": ("386", ""), "i486": ("386", ""), "i586": ("386", ""),
         "i686": ("386", ""), "athlon": ("386", ""), "aarch64": ("arm64", "v8"),
         "armv7hl": ("arm", "v7"), "armv6hl": ("arm", "v6"), "ppc64le": ("ppc64le", ""),
         "ppc64": ("ppc64", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
         "loongarch64": ("loong64", "")},
    # yum's $basearch: i386 for the i486/i586/i686 trees.
    basearch={"i486": "i386", "i586": "i386", "i686": "i386"},
    # SBOM: purl-spec's rpm type carries the epoch as `epoch=`; primary.xml's vendor, packager
    # and license, as primary.py keeps them in Package.fields (primary.sqlite's reader keeps
    # none of the three).
    purl_type="rpm",
    purl_epoch_qualifier=True,
    supplier_fields=("vendor", "packager"),
    license_fields=("license",),
    # OpenPGP keys as /etc/pki/rpm-gpg holds them (RPM-GPG-KEY-*), or by their usual suffixes.
    key_files=("RPM-GPG-KEY-*", "*.asc", "*.gpg", "*.key"),
)
