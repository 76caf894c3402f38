"""The apk family's fixed facts, read by shared code through FamilyFacts."""
from __future__ import annotations

from bootstrap.adapters import FamilyFacts

ARCH_INDEPENDENT = frozenset({"noarch"})

FACTS = FamilyFacts(
    family="apk",
    host_arch={"x86_64": "x86_64", "i686": "x86", "aarch64": "aarch64", "armv7l": "armv7",
               "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"},
    machine={"x86_64": "x86_64", "x86": "i686", "aarch64": "aarch64", "armv7": "armv7l",
             "armhf": "armv7l", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
             "noarch": ""},
    arch_independent=ARCH_INDEPENDENT,
)
