"""The apk family's fixed facts, read by shared code through FamilyFacts."""
from __future__ import annotations

from bootstrap.adapters import FamilyFacts

ARCH_INDEPENDENT = frozenset({"noarch"})

FACTS = FamilyFacts(
    family="apk",
    host_arch={"x86_64": "x86_64", "i686": "x86", "aarch64": "aarch64", "armv7l": "armv7",
               "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"},
    machine={"x86_64": "x86_64", "x86": "i686", "aarch64": "aarch64", "armv7": "armv7l",
             "armhf": "armv6l", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
             "loongarch64": "loongarch64", "noarch": ""},
    arch_independent=ARCH_INDEPENDENT,
    # Alpine's armhf is ARMv6 with hard float (what Docker's arm32v6 images are).
    oci={"x86_64": ("amd64", ""), "x86": ("386", ""), "aarch64": ("arm64", "v8"),
         "armv7": ("arm", "v7"), "armhf": ("arm", "v6"), "ppc64le": ("ppc64le", ""),
         "s390x": ("s390x", ""), "riscv64": ("riscv64", ""), "loongarch64": ("loong64", "")},
    # SBOM: APKINDEX's m: (maintainer) and L: (licence, an SPDX expression in aports).
    purl_type="apk",
    supplier_fields=("m",),
    license_fields=("L",),
    # RSA public keys in PEM, named as apk looks them up (/etc/apk/keys/*.rsa.pub).
    key_files=("*.pub",),
)
