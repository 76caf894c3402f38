"""SPDX 2.3 JSON of an SbomDocument, written by hand.

Written with json rather than spdx-tools' writer (measured with spdx-tools 0.8.5): its
writer's output is ordered (it keeps the model's order), but importing its beartype-checked
model costs 0.2-0.4 s, converting 3,000 packages through it 0.65 s, and its validator, the
only guard its writer offers, grows with the square of the packages (1.4 s for 1,000, 17 s for
3,000), too slow to run on every build; it would also make rdflib, pyyaml, ply and beartype
runtime dependencies. Here the document is a sorted-keys json.dumps of ~20 plain fields;
spdx-tools' parser and full validator check it in the tests (tests/core/test_sbom.py).

Contract of `render(doc)`: UTF-8 JSON text, keys sorted, two-space indent, newline at the end;
the same document gives the same bytes. `documentNamespace` ends in a SHA-256 of the rest of
the document, `created` is the document's epoch; no clock, no random id. Per package:
`SPDXRef-Package-<name>-<arch>` (cleaned, made unique in order), `downloadLocation` the URL
or NOASSERTION, `licenseDeclared` an SPDX expression, a `LicenseRef-` (its text in
`hasExtractedLicensingInfos`) or NOASSERTION, `supplier` "Person: ..." / "Organization: ..."
or NOASSERTION, checksums in SPDX's algorithm names (others left out), the purl as a
PACKAGE-MANAGER external reference; the document DESCRIBES every package.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from bootstrap.sbom.forms import SPDX_ALGOS, license_ref, party, spdx_expression, spdx_id
from bootstrap.sbom.model import SbomDocument, SbomPackage

NOASSERTION = "NOASSERTION"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/rootfs-bootstrap"
# The URLs SPDX's validator (spdx-tools) takes as a downloadLocation: a network scheme and a
# host name with a TLD. A file:// mirror or an IP address host (a local test mirror) is legal
# in the spec's words but refused there, so those say NOASSERTION (CycloneDX keeps them).
_DOWNLOAD_URL = re.compile(r"^(https?|s?ftp)://([\w.~%!$&'()*+,;=:-]+@)?"
                           r"[a-z0-9]+([.-][a-z0-9]+)*\.[a-z]{2,5}(:\d{1,5})?(/\S*)?$", re.I)


def timestamp(epoch: int) -> str:
    """Seconds since the epoch → SPDX's and CycloneDX's UTC time text."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def supplier(text: str) -> str:
    """Raw supplier text → SPDX's actor form, or NOASSERTION."""
    if not text:
        return NOASSERTION
    who = party(text)
    # SPDX reads "(...)" as the mail address: none may stand in the name.
    name = who.name.replace("(", "[").replace(")", "]")
    kind = "Person" if who.is_person else "Organization"
    return f"{kind}: {name} ({who.mail})" if who.mail else f"{kind}: {name}"


def license_field(text: str, extracted: dict[str, str]) -> str:
    """The licenseDeclared of licence `text`; a LicenseRef's text is added to `extracted`."""
    if not text:
        return NOASSERTION
    expression = spdx_expression(text)
    if expression is not None:
        return expression
    ref = license_ref(text)
    extracted[ref] = text
    return ref


def _checksums(pkg: SbomPackage) -> list[dict[str, str]]:
    out: dict[str, str] = {}
    for checksum in pkg.checksums:
        algo = SPDX_ALGOS.get(checksum.algo.lower())
        if algo is not None and algo not in out:
            out[algo] = checksum.hexdigest.lower()
    return [{"algorithm": algo, "checksumValue": value} for algo, value in out.items()]


def _package(pkg: SbomPackage, ident: str, extracted: dict[str, str]) -> dict[str, Any]:
    url = pkg.download_url
    entry: dict[str, Any] = {
        "SPDXID": ident, "name": pkg.name, "versionInfo": pkg.version,
        "downloadLocation": url if _DOWNLOAD_URL.match(url) else NOASSERTION,
        "filesAnalyzed": False, "licenseConcluded": NOASSERTION,
        "licenseDeclared": license_field(pkg.license, extracted),
        "copyrightText": NOASSERTION, "supplier": supplier(pkg.supplier),
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": pkg.purl}],
    }
    checksums = _checksums(pkg)
    if checksums:
        entry["checksums"] = checksums
    return entry


def package_ids(packages: tuple[SbomPackage, ...]) -> list[str]:
    """Each package's SPDXID from its name and arch, made unique in order (`-2`, `-3`...)."""
    seen: set[str] = set()
    ids: list[str] = []
    for pkg in packages:
        base = f"SPDXRef-Package-{spdx_id(pkg.name)}-{spdx_id(pkg.arch)}"
        ident, n = base, 1
        while ident in seen:
            n += 1
            ident = f"{base}-{n}"
        seen.add(ident)
        ids.append(ident)
    return ids


def document(doc: SbomDocument) -> dict[str, Any]:
    """The SPDX document as JSON data (see the module's contract)."""
    extracted: dict[str, str] = {}
    ids = package_ids(doc.packages)
    body: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": doc.name,
        "creationInfo": {"created": timestamp(doc.created), "creators": [f"Tool: {doc.tool}"],
                         "comment": f"root filesystem of profile {doc.profile}"},
        "packages": [_package(p, i, extracted) for p, i in zip(doc.packages, ids, strict=True)],
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": i} for i in ids],
    }
    if extracted:
        body["hasExtractedLicensingInfos"] = [{"licenseId": ref, "extractedText": text, "name": text}
                                              for ref, text in sorted(extracted.items())]
    digest = hashlib.sha256(_dump(body).encode()).hexdigest()
    body["documentNamespace"] = f"{NAMESPACE_BASE}/{spdx_id(doc.name)}-{digest}"
    return body


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(doc: SbomDocument) -> str:
    """The document's SPDX 2.3 JSON text."""
    return _dump(document(doc))
