"""The SBOM's records: what a document says of each package, independent of its format.

Contract: every field is plain text as the package's index gave it (`supplier` and `license`
raw, or ""); the writers (spdx.py, cyclonedx.py) turn them into their format's forms. Nothing
here reads a clock: `created` is the build's epoch, so the same build gives the same document.
"""
from __future__ import annotations

from dataclasses import dataclass

from bootstrap import __version__
from bootstrap.types import Checksum

# The formats write_sbom knows, the default first.
FORMATS = ("spdx", "cyclonedx")


@dataclass(frozen=True)
class SbomPackage:
    """One installed package: `purl` its Package URL; `supplier` the raw maintainer or vendor
    text ("Name <mail>", "CentOS"); `license` the licence text the package declares (any
    form, an SPDX expression or not); `checksums` the payload file's digests (hashlib names);
    `download_url` where the payload came from."""

    name: str
    version: str
    arch: str
    purl: str
    supplier: str = ""
    license: str = ""
    checksums: tuple[Checksum, ...] = ()
    download_url: str = ""


@dataclass(frozen=True)
class SbomDocument:
    """The SBOM of one build output `name`, built from `profile`, dated `created` (seconds
    since the epoch: the build's SOURCE_DATE_EPOCH, never the clock); `packages` in the order
    they are written."""

    name: str
    profile: str
    created: int
    packages: tuple[SbomPackage, ...]
    tool: str = f"rootfs-bootstrap-{__version__}"
