"""A `Package` as the SBOM describes it, read through its family's `FamilyFacts`.

Contract: `describe(pkg, facts, vendor, distro)` names no family: the purl type, whether the
epoch is a purl qualifier, and which raw index fields hold the supplier and the licence all
come from `facts` (the first non-empty field of each list wins). The checksums are the
payload file's digests as the index gives them (none for a family whose index has no file
digest); the download URL is the package's location.
"""
from __future__ import annotations

from collections.abc import Sequence

from bootstrap.adapters import FamilyFacts
from bootstrap.sbom.model import SbomPackage
from bootstrap.sbom.purl import purl
from bootstrap.types import Package


def first_field(pkg: Package, names: Sequence[str]) -> str:
    """The first of the raw index fields `names` that `pkg` has non-empty, stripped; or ""."""
    for name in names:
        value = " ".join(pkg.field(name).split())
        if value:
            return value
    return ""


def describe(pkg: Package, facts: FamilyFacts, vendor: str, distro: str) -> SbomPackage:
    """`pkg` of a `vendor` distribution (the purl namespace: debian, centos, alpine) release
    `distro` (the purl's distro=, e.g. debian-12) as an SbomPackage."""
    return SbomPackage(
        name=pkg.name, version=pkg.version, arch=pkg.arch,
        purl=purl(facts.purl_type, vendor, pkg.name, pkg.version, pkg.arch, distro,
                  epoch_qualifier=facts.purl_epoch_qualifier),
        supplier=first_field(pkg, facts.supplier_fields),
        license=first_field(pkg, facts.license_fields),
        checksums=tuple(pkg.checksums),
        download_url=pkg.location)
