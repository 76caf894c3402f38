"""bootstrap.trust.openpgp against real signed files (Debian bookworm's 3-signature InRelease,
Ubuntu 8.10's DSA/SHA-1 Release.gpg, a 2008 signature by a key expired since) and keys made
here with gpg (expired before/after signing)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.errors import VerificationError
from bootstrap.trust.gpgstatus import parse_status
from bootstrap.trust.openpgp import strip_clearsign, verify_detached, verify_inline

pytestmark = pytest.mark.skipif(shutil.which("gpgv") is None or shutil.which("gpg") is None,
                                reason="gpgv and gpg are needed")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "apt"
DEBIAN_KEYS = [ROOT / "keys" / "debian" / "debian-archive-keyring.gpg"]
BOOKWORM = DATA / "debian" / "dists" / "bookworm" / "InRelease"
INTREPID = DATA / "ubuntu" / "dists" / "intrepid"
MVO = DATA / "ubuntu" / "mvo.gpg"


def _gpg(home: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GNUPGHOME": str(home)}
    return subprocess.run(["gpg", "--batch", "--passphrase", "", *args], env=env, check=True,
                          capture_output=True, input=input)


def _only_key(tmp_path: Path, fingerprint: str) -> Path:
    """A keyring holding one key of the Debian keyring."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    _gpg(home, "--import", str(DEBIAN_KEYS[0]))
    out = tmp_path / f"{fingerprint}.gpg"
    out.write_bytes(_gpg(home, "--export", fingerprint).stdout)
    return out


def test_bookworm_inrelease_three_signatures() -> None:
    data = BOOKWORM.read_bytes()
    text = verify_inline(data, DEBIAN_KEYS)
    assert text == strip_clearsign(data)
    assert text.startswith(b"Origin: Debian\n") and b"Codename: bookworm\n" in text
    assert b"BEGIN PGP" not in text


@pytest.mark.parametrize("fingerprint", [
    "04B54C3CDCA79751B16BC6B5225629DF75B188BD",  # archive key 13/trixie (second RSA signature)
    "4D64FEC119C2029067D6E791F8D2585B8783D481",  # stable release key 12/bookworm (EdDSA)
])
def test_one_good_signature_is_enough(tmp_path: Path, fingerprint: str) -> None:
    keyring = _only_key(tmp_path, fingerprint)
    assert verify_inline(BOOKWORM.read_bytes(), [keyring]).startswith(b"Origin: Debian")


def test_tampered_byte_is_bad_signature() -> None:
    data = bytearray(BOOKWORM.read_bytes())
    at = data.index(b"Version: 12.15") + len("Version: 12.1")
    data[at] = ord("6")
    with pytest.raises(VerificationError, match="BAD signature"):
        verify_inline(bytes(data), DEBIAN_KEYS)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(VerificationError, match="unknown key") as err:
        verify_inline(BOOKWORM.read_bytes(), [MVO])
    assert err.value.hint and "--keyring" in err.value.hint


def test_ubuntu_810_dsa_sha1_detached() -> None:
    release = (INTREPID / "Release").read_bytes()
    verify_detached(release, (INTREPID / "Release.gpg").read_bytes(), [MVO])
    with pytest.raises(VerificationError, match="BAD"):
        verify_detached(release.replace(b"8.10", b"8.11", 1), (INTREPID / "Release.gpg").read_bytes(), [MVO])


def test_expired_key_checked_at_signature_date_armored_keyring() -> None:
    folder = DATA / "expired-key"
    notices: list[str] = []
    verify_detached((folder / "repomd.xml").read_bytes(), (folder / "repomd.xml.asc").read_bytes(),
                    [folder / "repomd.xml.key"], log=notices.append)
    assert len(notices) == 1 and "expired on 2010-04-01" in notices[0]
    assert "signature made 2008-10-09" in notices[0]


def test_signature_after_key_expiry_is_refused(tmp_path: Path) -> None:
    """A key made in 2020 that expired on 2020-03-01: its February signature stands, its June
    one does not (the expiry self-signature is dated 2020-01-02, before both)."""
    home = tmp_path / "g"
    home.mkdir(mode=0o700)
    _gpg(home, "--faked-system-time", "20200101T000000", "--quick-gen-key",
         "Old Key <old@example.invalid>", "rsa2048", "sign", "never")
    fpr = next(line.split(":")[9] for line in _gpg(home, "--with-colons", "-k").stdout.decode().splitlines()
               if line.startswith("fpr"))
    data = tmp_path / "data"
    data.write_bytes(b"hello\n")
    for name, when in (("early", "20200201T000000"), ("late", "20200601T000000")):
        _gpg(home, "--faked-system-time", when, "--detach-sign", "-o", str(tmp_path / name), str(data))
    _gpg(home, "--faked-system-time", "20200102T000000", "--quick-set-expire", fpr, "2020-03-01")
    keyring = tmp_path / "k.gpg"
    keyring.write_bytes(_gpg(home, "--export").stdout)
    notices: list[str] = []
    verify_detached(data.read_bytes(), (tmp_path / "early").read_bytes(), [keyring], log=notices.append)
    assert notices and "checked at its own date" in notices[0]
    with pytest.raises(VerificationError, match="expired on 2020-03-01"):
        verify_detached(data.read_bytes(), (tmp_path / "late").read_bytes(), [keyring])


def test_keyring_problems() -> None:
    with pytest.raises(VerificationError, match="no keyring"):
        verify_inline(BOOKWORM.read_bytes(), [])
    with pytest.raises(VerificationError, match="not found"):
        verify_inline(BOOKWORM.read_bytes(), [Path("/nonexistent/keyring.gpg")])


def test_unsigned_and_garbage() -> None:
    with pytest.raises(VerificationError):
        verify_inline(b"Origin: Debian\nSuite: stable\n", DEBIAN_KEYS)
    with pytest.raises(VerificationError):
        verify_detached(b"data", b"not a signature", DEBIAN_KEYS)


def test_strip_clearsign_matches_gpgv_with_dash_escapes(tmp_path: Path) -> None:
    home = tmp_path / "g"
    home.mkdir(mode=0o700)
    _gpg(home, "--quick-gen-key", "T <t@example.invalid>", "rsa2048", "sign", "never")
    text = b"Origin: x\n- dash line\n-----BEGIN fake\nFrom here\n"
    signed = _gpg(home, "--clearsign", input=text).stdout
    assert b"\n- - dash line" in signed
    keyring = tmp_path / "k.gpg"
    keyring.write_bytes(_gpg(home, "--export").stdout)
    assert verify_inline(signed, [keyring]) == text == strip_clearsign(signed)
    assert strip_clearsign(b"plain\n") == b"plain\n"


def test_parse_status_several_signatures() -> None:
    status = ("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG AAAA 1 8 01 1783765031 9 -\n[GNUPG:] NO_PUBKEY AAAA\n"
              "[GNUPG:] NEWSIG\n[GNUPG:] KEYEXPIRED 1270156139\n[GNUPG:] EXPKEYSIG BBBB Old <o@x>\n"
              "[GNUPG:] VALIDSIG FFFF 2008-10-09 1223586020 0 3 0 17 2 00 FFFF\n")
    errsig, expired = parse_status(status)
    assert (errsig.kind, errsig.keyid, errsig.error_code) == ("ERRSIG", "AAAA", "9")
    assert (expired.kind, expired.uid, expired.fingerprint) == ("EXPKEYSIG", "Old <o@x>", "FFFF")
    assert expired.sig_time == 1223586020 and expired.key_expired == (1270156139,)
