"""The software bill of materials a build writes beside its output: SPDX 2.3 JSON or
CycloneDX 1.5 JSON, one entry per installed package with its purl, supplier, declared licence
and payload digests.

Public face:
- `SbomPackage`, `SbomDocument`, `FORMATS` (model.py): the records, independent of format.
- `purl(kind, namespace, name, version, arch, distro, epoch_qualifier=False)` (purl.py).
- `describe(pkg, facts, vendor, distro)` (describe.py): a Package through its family's
  FamilyFacts; no family is named here.
- `sbom_path(output, fmt)`, `write_sbom(path, doc, fmt)`, `render(doc, fmt)` (write.py).
Same document in, same bytes out: nothing reads the clock or draws a random id.
"""
from __future__ import annotations

from bootstrap.sbom.describe import describe
from bootstrap.sbom.model import FORMATS, SbomDocument, SbomPackage
from bootstrap.sbom.purl import purl
from bootstrap.sbom.write import render, sbom_path, write_sbom

__all__ = ["FORMATS", "SbomDocument", "SbomPackage", "describe", "purl", "render", "sbom_path",
           "write_sbom"]
