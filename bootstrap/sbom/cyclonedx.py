"""CycloneDX 1.5 JSON of an SbomDocument, through cyclonedx-python-lib.

The library's JSON output is deterministic (its collections are sorted sets, its keys written
in a fixed order) once the two values it would otherwise make up are given: the serial number,
here a name-based UUID from a SHA-256 of the document rendered with a placeholder serial, and
the timestamp, the document's epoch.

Contract of `render(doc)`: the same document gives the same text. The document's output is
the metadata component (type operating-system, named as the output file), which depends on
every package; each package is a component with bom-ref = its purl (made unique in order),
version, supplier (name, and a contact where a mail address is given), licence (an SPDX
expression where the declared text is one, else the text as a licence name), hashes in
CycloneDX's algorithm names (others left out), the download URL as a distribution reference,
and its arch as the property `rootfs-bootstrap:arch`.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from bootstrap.sbom.forms import CDX_ALGOS, party, spdx_expression
from bootstrap.sbom.model import SbomDocument, SbomPackage

ROOT_REF = "rootfs"
ARCH_PROPERTY = "rootfs-bootstrap:arch"
_PLACEHOLDER = uuid.UUID(int=0)


def _supplier(text: str) -> OrganizationalEntity | None:
    if not text:
        return None
    who = party(text)
    contacts = [OrganizationalContact(name=who.name, email=who.mail)] if who.mail else []
    return OrganizationalEntity(name=who.name, contacts=contacts)


def _licenses(text: str) -> list[LicenseExpression | DisjunctiveLicense]:
    if not text:
        return []
    expression = spdx_expression(text)
    if expression is not None:
        return [LicenseExpression(expression)]
    return [DisjunctiveLicense(name=text)]


def _hashes(pkg: SbomPackage) -> list[HashType]:
    out: dict[str, str] = {}
    for checksum in pkg.checksums:
        algo = CDX_ALGOS.get(checksum.algo.lower())
        if algo is not None and algo not in out:
            out[algo] = checksum.hexdigest.lower()
    return [HashType(alg=HashAlgorithm(algo), content=value) for algo, value in out.items()]


def _component(pkg: SbomPackage, ref: str) -> Component:
    refs = [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(pkg.download_url))] \
        if pkg.download_url else []
    return Component(
        name=pkg.name, version=pkg.version, type=ComponentType.LIBRARY, bom_ref=ref,
        purl=PackageURL.from_string(pkg.purl), supplier=_supplier(pkg.supplier),
        licenses=_licenses(pkg.license), hashes=_hashes(pkg), external_references=refs,
        properties=[Property(name=ARCH_PROPERTY, value=pkg.arch)] if pkg.arch else [])


def _refs(packages: tuple[SbomPackage, ...]) -> list[str]:
    seen: set[str] = set()
    refs: list[str] = []
    for pkg in packages:
        ref, n = pkg.purl, 1
        while ref in seen or ref == ROOT_REF:
            n += 1
            ref = f"{pkg.purl}#{n}"
        seen.add(ref)
        refs.append(ref)
    return refs


def _bom(doc: SbomDocument, serial: uuid.UUID) -> Bom:
    tool_name, _, tool_version = doc.tool.rpartition("-")
    tools = ToolRepository(components=[Component(name=tool_name or doc.tool, version=tool_version or None,
                                                 type=ComponentType.APPLICATION)])
    root = Component(name=doc.name, type=ComponentType.OPERATING_SYSTEM, bom_ref=ROOT_REF,
                     description=f"root filesystem of profile {doc.profile}")
    metadata = BomMetaData(timestamp=datetime.fromtimestamp(doc.created, UTC), tools=tools, component=root)
    components = [_component(p, r) for p, r in zip(doc.packages, _refs(doc.packages), strict=True)]
    bom = Bom(serial_number=serial, metadata=metadata, components=components)
    bom.register_dependency(root, components)
    for component in components:
        bom.register_dependency(component, [])
    return bom


def _text(bom: Bom) -> str:
    return JsonV1Dot5(bom).output_as_string(indent=2) + "\n"


def render(doc: SbomDocument) -> str:
    """The document's CycloneDX 1.5 JSON text (see the module's contract)."""
    digest = hashlib.sha256(_text(_bom(doc, _PLACEHOLDER)).encode()).hexdigest()
    return _text(_bom(doc, uuid.uuid5(uuid.NAMESPACE_URL, f"urn:sha256:{digest}")))
