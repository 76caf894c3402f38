"""Package URLs (purl-spec) through packageurl-python.

Contract: `purl(kind, namespace, name, version, arch, distro)` → the canonical purl string,
`arch=` and `distro=` qualifiers always present (when given), sorted and percent-encoded as
the spec says. With `epoch_qualifier` (a family whose purl type puts the epoch in a qualifier,
FamilyFacts.purl_epoch_qualifier) a version `E:V-R` becomes version `V-R` and `epoch=E`;
otherwise the version is kept whole, epoch included.
"""
from __future__ import annotations

# purl's catch-all type, for a family that names none.
GENERIC = "generic"


def split_epoch(version: str) -> tuple[str, str]:
    """`E:rest` → (E, rest) where E is all digits; else ("", version)."""
    head, sep, rest = version.partition(":")
    if sep and head.isdigit():
        return head, rest
    return "", version


def purl(kind: str, namespace: str, name: str, version: str, arch: str, distro: str,
         epoch_qualifier: bool = False) -> str:
    """The purl of one package (see the module's contract); `kind` "" means generic."""
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if distro:
        qualifiers["distro"] = distro
    if epoch_qualifier:
        epoch, version = split_epoch(version)
        if epoch:
            qualifiers["epoch"] = epoch
    # Imported here: `import bootstrap.sbom` stays free of the SBOM libraries (build start-up).
    from packageurl import PackageURL

    return PackageURL(type=kind or GENERIC, namespace=namespace.lower() or None, name=name,
                      version=version or None, qualifiers=qualifiers).to_string()
