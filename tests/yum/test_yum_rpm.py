"""RPM header reader (cross-checked with the host's `rpm -qp --queryformat`) and rpm signature and
digest checks on the real CentOS 2.1–7 release packages, their keys, and broken variants."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.adapters.yum.header import read_rpm
from bootstrap.adapters.yum.payload import extract_rpm
from bootstrap.adapters.yum.signature import check_digests, check_rpm, verify_signatures
from bootstrap.errors import ChecksumError, UnpackError, VerificationError

LEGACY = "yum/centos-release-legacy"
# package file → the CentOS key that signed it (epel-release 7 is CentOS extras' build).
SIGNED_BY = {
    "centos-release-as-2.1AS-4.noarch.rpm": "2", "centos-release-3.1-1.i386.rpm": "3",
    "centos-release-4-0.1.i386.rpm": "4", "centos-release-4-0.1.x86_64.rpm": "4",
    "centos-release-5-0.0.el5.centos.2.i386.rpm": "5", "centos-release-5-0.0.el5.centos.2.x86_64.rpm": "5",
    "centos-release-6-0.el6.centos.5.i686.rpm": "6", "centos-release-6-0.el6.centos.5.x86_64.rpm": "6",
    "centos-release-7-2.1511.el7.centos.2.10.x86_64.rpm": "7", "epel-release-7-5.noarch.rpm": "7",
}
QF = ("%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PAYLOADCOMPRESSOR}|%{PAYLOADFORMAT}|"
      "%{PREIN}|%{PREINPROG}|%{POSTIN}|%{POSTINPROG}|%{PREUN}|%{POSTUN}\\n"
      "[%{FILENAMES}|%{FILEMODES}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{FILEFLAGS}|%{FILECAPS}\\n]")


def _rpms(realdata: Path) -> list[Path]:
    found = sorted((realdata / "yum").glob("*/*.rpm"))
    return [p for p in found if not p.name.startswith("v6_") and "broken_header" not in p.name]


def _ours(path: Path) -> str:
    rpm = read_rpm(io.BytesIO(path.read_bytes()))
    h, scripts = rpm.header, rpm.scripts()
    epoch = h.ints(1003)
    none = "(none)"

    def script(name: str, prog: bool) -> str:
        s = scripts.get(name)
        if s is None:
            return none
        if prog:
            return " ".join(s.prog) if h.get({"pre": 1085, "post": 1086}[name]) is not None else none
        return s.body or none

    head = [rpm.name, str(epoch[0]) if epoch else none, h.string(1001), h.string(1002), rpm.arch,
            rpm.payload_compressor or none, rpm.payload_format, script("pre", False), script("pre", True),
            script("post", False), script("post", True), script("preun", False), script("postun", False)]
    lines = ["|".join(head)]
    for f in rpm.files():
        lines.append("|".join([f.path, str(f.mode), f.user, f.group, str(f.flags), f.caps or none]))
    return "\n".join(lines) + "\n"


def test_header_matches_rpm_query(realdata: Path) -> None:
    if shutil.which("rpm") is None:
        pytest.skip("rpm is not installed")
    paths = _rpms(realdata)
    assert len(paths) >= 25
    for path in paths:
        theirs = subprocess.run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf", QF, str(path)],
                                capture_output=True, text=True, check=True).stdout
        assert _ours(path) == theirs, path.name


def test_scripts_files_flags(realdata: Path) -> None:
    fs = read_rpm(open(realdata / "yum/librepo-fc16-i686-signed/filesystem-2.4.44-1.fc16.i686.rpm", "rb"))
    assert fs.scripts()["post"].prog == ("<lua>",)
    assert fs.payload_compressor == "xz"
    rel5 = read_rpm(open(realdata / LEGACY / "centos-release-5-0.0.el5.centos.2.i386.rpm", "rb"))
    issue = next(f for f in rel5.files() if f.path == "/etc/issue")
    assert issue.is_config and not issue.is_ghost and rel5.evr == "10:5-0.0.el5.centos.2"
    old = read_rpm(open(realdata / LEGACY / "centos-release-as-2.1AS-4.noarch.rpm", "rb"))
    assert old.files()[0].path == "/etc/centos-release"  # rpm 4.0.4: OLDFILENAMES or dir/basenames


def test_rpm_v6_is_a_clear_error(realdata: Path) -> None:
    v6 = realdata / "yum/rpm-rs-v4-v6-format-variants/v6_rpm-basic-2.3.4-5.el9.noarch.rpm"
    with pytest.raises(UnpackError, match="format version 4"):
        read_rpm(open(v6, "rb"))
    with pytest.raises(UnpackError, match="not an rpm"):
        read_rpm(io.BytesIO(b"<html>" + b" " * 200))


@pytest.mark.parametrize("name", sorted(SIGNED_BY))
def test_real_centos_signatures_verify(realdata: Path, name: str) -> None:
    key = realdata / LEGACY / f"RPM-GPG-KEY-CentOS-{SIGNED_BY[name]}"
    notices: list[str] = []
    rpm = check_rpm(realdata / LEGACY / name, [key], log=notices.append)
    assert rpm.name in ("centos-release", "centos-release-as", "epel-release")
    if SIGNED_BY[name] in "23456":
        assert any("expired" in n for n in notices)  # judged at the signature's own date


def test_dsa_sha1_header_and_whole_signatures_both_checked(realdata: Path) -> None:
    path = realdata / LEGACY / "centos-release-4-0.1.i386.rpm"
    data = path.read_bytes()
    rpm = read_rpm(io.BytesIO(data))
    payload = data[rpm.payload_offset:]
    kinds = verify_signatures(rpm, payload, [realdata / LEGACY / "RPM-GPG-KEY-CentOS-4"])
    assert kinds == ["DSA header", "DSA header+payload"]
    assert check_digests(rpm, payload) == ["header-sha1", "md5"]


def test_wrong_key_rejected(realdata: Path) -> None:
    with pytest.raises(VerificationError):
        check_rpm(realdata / LEGACY / "centos-release-4-0.1.i386.rpm", [realdata / LEGACY / "RPM-GPG-KEY-CentOS-5"])


def test_tampered_copy_rejected(realdata: Path, tmp_path: Path) -> None:
    data = bytearray((realdata / LEGACY / "centos-release-5-0.0.el5.centos.2.i386.rpm").read_bytes())
    key = [realdata / LEGACY / "RPM-GPG-KEY-CentOS-5"]
    rpm = read_rpm(io.BytesIO(bytes(data)))
    data[-100] ^= 0x01  # one bit of the payload
    bad = tmp_path / "tampered.rpm"
    bad.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="MD5"):
        check_rpm(bad, key)
    # Even with the digests out of the way, the header+payload signature catches it.
    with pytest.raises(VerificationError, match="BAD signature"):
        verify_signatures(rpm, bytes(data[rpm.payload_offset:]), key)


def test_broken_and_unsigned_variants(realdata: Path) -> None:
    top = realdata / "yum/libzypp-rpm-sigcheck"
    key = [top / "signed.key"]
    check_rpm(top / "signed.rpm", key)
    for name in ("signed_broken.rpm", "signed_broken_header.rpm", "unsigned_broken.rpm"):
        with pytest.raises(ChecksumError):
            check_rpm(top / name, key)
    with pytest.raises(VerificationError, match="not signed"):
        check_rpm(top / "unsigned.rpm", key)
    check_rpm(top / "unsigned.rpm", key, verify=False)  # gpgcheck=0 / --no-verify: digests only


def test_modern_signatures_and_payload_digest(realdata: Path) -> None:
    top = realdata / "yum/rpm-rs-v4-v6-format-variants"
    keys = sorted((top / "keys").glob("rpm-testkey-v4-*.asc"))
    for name in ("v4_signed_rpm-basic-with-rsa4096-2.3.4-5.el9.noarch.rpm",
                 "v4_signed_rpm-basic-with-ed25519-2.3.4-5.el9.noarch.rpm"):
        check_rpm(top / name, keys)
    policies = realdata / "yum/rhel8-signed-rpm/crypto-policies-20210617-1.gitc776d3e.el8.noarch.rpm"
    rpm = read_rpm(open(policies, "rb"))
    payload = policies.read_bytes()[rpm.payload_offset:]
    assert "payload-sha256" in check_digests(rpm, payload)


def test_payload_compressions_unpack(realdata: Path, tmp_path: Path) -> None:
    from bootstrap.unpack import Unpacker

    for path in sorted((realdata / "yum/rpm-payload-variants-go-rpmutils").glob("payload-test-*.rpm")):
        root = tmp_path / path.stem
        root.mkdir()
        manifest = extract_rpm(Unpacker(root), path, "payload-test")
        assert (root / "usr/share/payload-test.txt").read_bytes() == b"Some data\n", path.name
        assert any(e.path == "usr/share/payload-test.txt" for e in manifest)
