"""The SBOM a build writes beside its output (`OUT.spdx.json`, or CycloneDX with
`--sbom-format cyclonedx`): every installed package (seeded ones included) as the family
describes it (its FamilyFacts: purl type, supplier and licence fields), dated with the
build's epoch so the same build gives the same file."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bootstrap.adapters import FamilyFacts, Installed
from bootstrap.report import Reporter
from bootstrap.types import Profile


def write_build_sbom(out: Path, fmt: str, profile: Profile, facts: FamilyFacts, installed: Sequence[Installed],
                     epoch: int, report: Reporter) -> Path:
    """Write the SBOM of a build whose output is `out`, dated `epoch`; returns its path."""
    from bootstrap import sbom

    distro = f"{profile.vendor}-{profile.release}"
    packages = tuple(sbom.describe(i.package, facts, profile.vendor, distro)
                     for i in sorted(installed, key=lambda i: (i.package.name, i.package.arch)))
    document = sbom.SbomDocument(name=out.name, profile=profile.name, created=epoch, packages=packages)
    path = sbom.write_sbom(sbom.sbom_path(out, fmt), document, fmt)
    report.info(f"sbom: {path} ({len(packages)} packages, {fmt})")
    return path
