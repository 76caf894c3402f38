"""The yum family's fixed facts, read by shared code through FamilyFacts."""
from __future__ import annotations

from bootstrap.adapters import FamilyFacts

ARCH_INDEPENDENT = frozenset({"noarch"})

FACTS = FamilyFacts(
    family="yum",
    host_arch={"x86_64": "x86_64", "i686": "i386", "aarch64": "aarch64", "ppc64le": "ppc64le",
               "s390x": "s390x"},
    machine={"x86_64": "x86_64", "i386": "i686", "i486": "i686", "i586": "i686", "i686": "i686",
             "athlon": "i686", "aarch64": "aarch64", "armv7hl": "armv7l", "ppc64le": "ppc64le",
             "s390x": "s390x", "noarch": ""},
    arch_independent=ARCH_INDEPENDENT,
    # yum's $basearch: i386 for the i486/i586/i686 trees.
    basearch={"i486": "i386", "i586": "i386", "i686": "i386"},
)
