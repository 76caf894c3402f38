"""The SBOM package: each family's packages described through its FamilyFacts, both formats
checked by the formats' own validators (spdx-tools, cyclonedx-python-lib's strict JSON schema),
the same input giving the same bytes, where the file goes, and a failed write leaving nothing."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from bootstrap import sbom
from bootstrap.adapters import FamilyFacts
from bootstrap.adapters.apk.facts import FACTS as APK
from bootstrap.adapters.apt.facts import FACTS as APT
from bootstrap.adapters.yum.facts import FACTS as YUM
from bootstrap.errors import PackError
from bootstrap.sbom.forms import license_ref, party, spdx_expression
from bootstrap.types import Checksum, Package

SHA256 = "ab" * 32
DEB = Package(
    name="libc6", version="2.36-9+deb12u4", arch="amd64",
    location="http://mirror.example.org/debian/pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb",
    checksums=(Checksum("sha256", SHA256.upper()), Checksum("md5", "cd" * 16), Checksum("whirlpool", "00")),
    fields=(("Package", "libc6"), ("Maintainer", "GNU Libc Maintainers <debian-glibc@lists.debian.org>")))
RPM = Package(
    name="bash", version="1:2.0-3", arch="x86_64",
    location="https://vault.centos.org/7.9.2009/os/x86_64/Packages/bash-2.0-3.x86_64.rpm",
    checksums=(Checksum("sha256", "12" * 32),),
    fields=(("summary", "The GNU Bourne Again shell"), ("license", "GPLv2+"), ("vendor", "CentOS")))
APK_PKG = Package(
    name="musl", version="1.2.4-r2", arch="x86_64",
    location="https://dl-cdn.alpinelinux.org/alpine/v3.19/main/x86_64/musl-1.2.4-r2.apk",
    fields=(("P", "musl"), ("C", "Q1abcdefghijklmnopqrstuvwxyz0="), ("L", "MIT AND BSD-2-Clause"),
            ("m", "Natanael Copa <ncopa@alpinelinux.org>")))
CASES: list[tuple[Package, FamilyFacts, str, str]] = [
    (DEB, APT, "debian", "debian-12"), (RPM, YUM, "centos", "centos-7"), (APK_PKG, APK, "alpine", "alpine-3.19")]


def _document(created: int = 1700000000) -> sbom.SbomDocument:
    packages = tuple(sbom.describe(pkg, facts, vendor, distro) for pkg, facts, vendor, distro in CASES)
    return sbom.SbomDocument(name="rootfs.tar.gz", profile="mixed", created=created, packages=packages)


def test_describe_reads_each_family_through_its_facts() -> None:
    deb, rpm, apk = _document().packages
    assert deb.supplier == "GNU Libc Maintainers <debian-glibc@lists.debian.org>" and deb.license == ""
    assert rpm.supplier == "CentOS" and rpm.license == "GPLv2+"
    assert apk.supplier == "Natanael Copa <ncopa@alpinelinux.org>" and apk.license == "MIT AND BSD-2-Clause"
    assert apk.checksums == ()  # apk's C: is the control stream's digest, not the file's
    assert deb.download_url == DEB.location and len(deb.checksums) == 3


def test_purls_parse_back_with_arch_and_distro() -> None:
    deb, rpm, apk = (PackageURL.from_string(p.purl) for p in _document().packages)
    assert (deb.type, deb.namespace, deb.name, deb.version) == ("deb", "debian", "libc6", "2.36-9+deb12u4")
    assert deb.qualifiers == {"arch": "amd64", "distro": "debian-12"}
    assert (rpm.type, rpm.namespace, rpm.version) == ("rpm", "centos", "2.0-3")
    assert rpm.qualifiers == {"arch": "x86_64", "distro": "centos-7", "epoch": "1"}
    assert (apk.type, apk.namespace, apk.version) == ("apk", "alpine", "1.2.4-r2")
    assert apk.qualifiers == {"arch": "x86_64", "distro": "alpine-3.19"}


def test_purl_keeps_the_epoch_in_the_version_unless_told() -> None:
    text = sbom.purl("deb", "debian", "bsdutils", "1:2.38.1-5+b1", "amd64", "debian-12")
    assert PackageURL.from_string(text).version == "1:2.38.1-5+b1"
    assert sbom.purl("", "x", "n", "1", "", "") == "pkg:generic/x/n@1"


def test_license_and_supplier_forms() -> None:
    assert spdx_expression("mit and bsd-2-clause") == "MIT AND BSD-2-Clause"
    assert spdx_expression("GPLv2+") is None and spdx_expression("") is None
    # The SPDX list's aliases would restate the licence (GPL as GPL-1.0-or-later): refused.
    assert spdx_expression("GPL") is None and spdx_expression("BSD-2") is None
    assert spdx_expression("GPL-2.0+") is None
    # Malformed texts (license-expression itself fails on some) are no expression, no error.
    assert spdx_expression("MIT OR") is None and spdx_expression("MIT WITH MIT") is None
    assert spdx_expression("Classpath-exception-2.0") is None
    assert license_ref("BSD") == "LicenseRef-BSD"
    assert license_ref("GPLv2+").startswith("LicenseRef-GPLv2-") and license_ref("GPLv2+") != license_ref("GPLv2-")
    assert party("Natanael Copa <ncopa@alpinelinux.org>").is_person
    assert not party("GNU Libc Maintainers <debian-glibc@lists.debian.org>").is_person
    vendor = party("CentOS BuildSystem <http://bugs.centos.org>")
    assert not vendor.is_person and vendor.mail == "" and "<" not in vendor.name


def test_spdx_is_valid_and_says_what_each_family_gave(tmp_path: Path) -> None:
    path = sbom.write_sbom(tmp_path / "rootfs.spdx.json", _document(), "spdx")
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    data = json.loads(path.read_text())
    assert data["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    packages = {p["name"]: p for p in data["packages"]}
    assert packages["libc6"]["supplier"] == \
        "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    assert packages["libc6"]["licenseDeclared"] == "NOASSERTION"
    assert packages["libc6"]["checksums"] == [{"algorithm": "SHA256", "checksumValue": SHA256},
                                              {"algorithm": "MD5", "checksumValue": "cd" * 16}]
    assert packages["musl"]["supplier"] == "Person: Natanael Copa (ncopa@alpinelinux.org)"
    assert packages["musl"]["licenseDeclared"] == "MIT AND BSD-2-Clause"
    assert "checksums" not in packages["musl"]
    assert packages["bash"]["supplier"] == "Organization: CentOS"
    ref = packages["bash"]["licenseDeclared"]
    assert ref.startswith("LicenseRef-")
    assert data["hasExtractedLicensingInfos"] == [{"licenseId": ref, "extractedText": "GPLv2+", "name": "GPLv2+"}]
    assert {r["relatedSpdxElement"] for r in data["relationships"] if r["relationshipType"] == "DESCRIBES"} == \
        {p["SPDXID"] for p in data["packages"]}
    purls = [p["externalRefs"][0]["referenceLocator"] for p in data["packages"]]
    assert purls[1] == "pkg:rpm/centos/bash@2.0-3?arch=x86_64&distro=centos-7&epoch=1"


def test_cyclonedx_is_valid_and_says_what_each_family_gave(tmp_path: Path) -> None:
    path = sbom.write_sbom(tmp_path / "rootfs.cdx.json", _document(), "cyclonedx")
    text = path.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    data = json.loads(text)
    assert data["specVersion"] == "1.5" and data["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
    components = {c["name"]: c for c in data["components"]}
    assert sorted(components["libc6"]["hashes"], key=lambda h: h["alg"]) == [
        {"alg": "MD5", "content": "cd" * 16}, {"alg": "SHA-256", "content": SHA256}]
    assert components["musl"]["licenses"] == [{"expression": "MIT AND BSD-2-Clause"}]
    assert components["bash"]["licenses"] == [{"license": {"name": "GPLv2+"}}]
    assert components["musl"]["supplier"]["contact"] == [{"email": "ncopa@alpinelinux.org", "name": "Natanael Copa"}]
    assert components["bash"]["purl"] == "pkg:rpm/centos/bash@2.0-3?arch=x86_64&distro=centos-7&epoch=1"
    root = next(d for d in data["dependencies"] if d["ref"] == data["metadata"]["component"]["bom-ref"])
    assert sorted(root["dependsOn"]) == sorted(c["bom-ref"] for c in data["components"])


@pytest.mark.parametrize("fmt", sbom.FORMATS)
def test_same_input_same_bytes_and_the_epoch_is_the_date(tmp_path: Path, fmt: str) -> None:
    first = sbom.write_sbom(tmp_path / "a.json", _document(), fmt).read_bytes()
    again = sbom.write_sbom(tmp_path / "b.json", _document(), fmt).read_bytes()
    later = sbom.write_sbom(tmp_path / "c.json", _document(created=1700000001), fmt).read_bytes()
    assert first == again and first != later
    ident = "documentNamespace" if fmt == "spdx" else "serialNumber"
    assert json.loads(first)[ident] != json.loads(later)[ident]


@pytest.mark.parametrize(("output", "fmt", "expected"), [
    ("out/rootfs.tar.gz", "spdx", "out/rootfs.spdx.json"),
    ("out/rootfs.tar", "spdx", "out/rootfs.spdx.json"),
    ("out/rootfs.tar.xz", "cyclonedx", "out/rootfs.cdx.json"),
    ("out/rootfs.tgz", "spdx", "out/rootfs.spdx.json"),
    ("out/image.tar", "cyclonedx", "out/image.cdx.json"),
    ("out/tree", "spdx", "out/tree.spdx.json"),
    ("out/oci-layout/", "spdx", "out/oci-layout.spdx.json"),
    ("rootfs.img", "spdx", "rootfs.img.spdx.json"),
])
def test_sbom_path_beside_each_kind_of_output(output: str, fmt: str, expected: str) -> None:
    assert sbom.sbom_path(Path(output), fmt) == Path(expected)


def test_failed_write_leaves_nothing_and_raises_pack_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "rootfs.spdx.json"
    with pytest.raises(PackError) as caught:
        sbom.write_sbom(target, _document())
    assert "\n" not in caught.value.message and str(target) in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "rootfs.spdx.json").mkdir()  # a directory where the file would go
    (tmp_path / "rootfs.spdx.json" / "x").write_text("")
    with pytest.raises(PackError):
        sbom.write_sbom(tmp_path / "rootfs.spdx.json", _document())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs.spdx.json"]


def test_awkward_packages_still_validate(tmp_path: Path) -> None:
    """Names SPDX ids cannot hold, a repeated name and arch, local mirrors' URLs (file://, an IP
    address), suppliers with brackets or no mail, compound licences with and without SPDX ids."""
    odd = (
        Package(name="libstdc++6", version="1:12.2.0-14", arch="all", location="file:///srv/mirror/a b.deb",
                checksums=(Checksum("sha1", "aa" * 20), Checksum("sha512", "bb" * 64)),
                fields=(("Maintainer", "Debian GCC Maintainers (gcc) <debian-gcc@lists.debian.org>"),)),
        Package(name="libstdc++6", version="1:12.2.0-14", arch="all"),
        Package(name="glibc", version="2.17-1", arch="i686", location="http://127.0.0.1:8080/glibc.rpm",
                fields=(("license", "LGPLv2+ and LGPLv2+ with exceptions and GPLv2+"),)),
        Package(name="x", version="1", arch="noarch",
                fields=(("license", "GPL-2.0-or-later or (MIT and BSD-3-Clause)"),
                        ("packager", "CentOS BuildSystem <http://bugs.centos.org>"))),
        Package(name="y", version="1", arch="noarch", fields=(("license", "GPL or MIT OR"),)))
    packages = tuple(sbom.describe(p, YUM if p.arch != "all" else APT, "v", "v-1") for p in odd)
    doc = sbom.SbomDocument(name="tree", profile="p", created=0, packages=packages)
    spdx_path = sbom.write_sbom(tmp_path / "tree.spdx.json", doc, "spdx")
    assert validate_full_spdx_document(parse_file(str(spdx_path))) == []
    cdx = sbom.write_sbom(tmp_path / "tree.cdx.json", doc, "cyclonedx").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(cdx) is None
    data = json.loads(spdx_path.read_text())
    assert [p["SPDXID"] for p in data["packages"]][:2] == ["SPDXRef-Package-libstdc-6-all",
                                                          "SPDXRef-Package-libstdc-6-all-2"]
    assert {p["downloadLocation"] for p in data["packages"]} == {"NOASSERTION"}
    assert data["packages"][3]["licenseDeclared"] == "GPL-2.0-or-later OR (MIT AND BSD-3-Clause)"
    assert data["packages"][4]["licenseDeclared"].startswith("LicenseRef-GPL-")
    assert data["packages"][3]["supplier"] == "Organization: CentOS BuildSystem http://bugs.centos.org"
    assert len({c["bom-ref"] for c in json.loads(cdx)["components"]}) == 5


PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>zlib</name><arch>x86_64</arch>
  <version epoch="0" ver="1.2.7" rel="21.el7_9"/><checksum type="sha256" pkgid="YES">""" + b"34" * 32 + b"""</checksum>
  <summary>compression</summary><size package="90000" installed="180000" archive="181000"/>
  <location href="Packages/zlib-1.2.7-21.el7_9.x86_64.rpm"/>
  <format><rpm:license>zlib and Boost</rpm:license><rpm:vendor></rpm:vendor>
    <rpm:packager>CentOS BuildSystem &lt;http://bugs.centos.org&gt;</rpm:packager></format>
</package></metadata>"""


def test_yum_primary_keeps_what_the_facts_name() -> None:
    """primary.xml's packager stands in for an empty vendor; the licence text is kept whole."""
    import io

    from bootstrap.adapters.yum.primary import parse_primary

    (pkg,) = parse_primary(io.BytesIO(PRIMARY), "https://vault.centos.org/7.9.2009/os/x86_64/")
    described = sbom.describe(pkg, YUM, "centos", "centos-7")
    assert described.supplier == "CentOS BuildSystem <http://bugs.centos.org>"
    assert described.license == "zlib and Boost"
    # epoch 0 is no epoch (the parser leaves it out of the version, as rpm prints it)
    assert described.purl == "pkg:rpm/centos/zlib@1.2.7-21.el7_9?arch=x86_64&distro=centos-7"
    assert spdx_expression(described.license) is None  # Boost is an alias of BSL-1.0
    assert described.checksums == (Checksum("sha256", "34" * 32),)


def test_importing_the_package_loads_no_sbom_library() -> None:
    """The build path imports bootstrap.sbom; the libraries load only when an SBOM is made."""
    code = ("import sys, bootstrap.sbom; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('cyclonedx', 'packageurl', 'license_expression', 'spdx_tools', 'jsonschema')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_same_bytes_in_another_process_with_another_hash_seed() -> None:
    """No set or dict order that Python's string hashing decides reaches the output."""
    code = ("import pickle, sys; from bootstrap import sbom; doc = pickle.load(sys.stdin.buffer); "
            "sys.stdout.write(''.join(sbom.render(doc, f) for f in sbom.FORMATS))")
    here = "".join(sbom.render(_document(), fmt) for fmt in sbom.FORMATS)
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env,
                             input=pickle.dumps(_document())).stdout
        assert out.decode() == here
