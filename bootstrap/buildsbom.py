"""The SBOM a build writes beside its output (`OUT.spdx.json`, or CycloneDX with
`--sbom-format cyclonedx`), and the one an image carries as an attachment: every installed
package (seeded ones included) as the family describes it (its FamilyFacts: purl type,
supplier and licence fields), dated with the build's epoch so the same build gives the same
file."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.adapters import FamilyFacts, Installed
from bootstrap.report import Reporter
from bootstrap.types import Profile

if TYPE_CHECKING:
    from bootstrap.sbom import SbomDocument

# The media type of each SBOM format, for an image's attachment.
MEDIA_TYPES = {"spdx": "application/spdx+json", "cyclonedx": "application/vnd.cyclonedx+json"}


def build_sbom(name: str, profile: Profile, facts: FamilyFacts, installed: Sequence[Installed],
               epoch: int) -> SbomDocument:
    """The SBOM document named `name` of the packages `installed` in a build of `profile`."""
    from bootstrap import sbom

    distro = f"{profile.vendor}-{profile.release}"
    packages = tuple(sbom.describe(i.package, facts, profile.vendor, distro)
                     for i in sorted(installed, key=lambda i: (i.package.name, i.package.arch)))
    return sbom.SbomDocument(name=name, profile=profile.name, created=epoch, packages=packages)


def write_build_sbom(out: Path, fmt: str, profile: Profile, facts: FamilyFacts, installed: Sequence[Installed],
                     epoch: int, report: Reporter, path: Path | None = None) -> Path:
    """Write the SBOM of a build whose output is `out`, dated `epoch`, at `path` (default:
    beside `out`, sbom.sbom_path); returns its path."""
    from bootstrap import sbom

    document = build_sbom(out.name, profile, facts, installed, epoch)
    written = sbom.write_sbom(path or sbom.sbom_path(out, fmt), document, fmt)
    report.info(f"sbom: {written} ({len(document.packages)} packages, {fmt})")
    return written
