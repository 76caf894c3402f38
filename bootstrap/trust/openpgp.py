"""OpenPGP signature checks with gpgv (the tool apt itself uses), against explicit keyrings only.

Contracts:
- `verify_inline(data, keyrings)` checks a clearsigned file (InRelease) and returns the signed
  text exactly as gpgv extracted it; `verify_detached(data, signature, keyrings)` checks a
  detached signature (Release.gpg, repomd.xml.asc). Both raise VerificationError unless at least
  one signature is good and made by a key in `keyrings`; any BADSIG fails the whole file (the
  file was altered), whatever the other signatures say.
- Keyrings are binary (`.gpg`, keybox) or ASCII-armored (`.asc`, dearmored to a temporary file).
- A signature by a key that has expired since (end-of-life releases: Debian 9's archive key
  expired in 2025, yet its Release files stay signed by it) is accepted when gpg, run with its
  clock set to the signature's own date, calls it good: the key was valid when it signed.
  That is logged as a one-line notice. A signature made after the key expired still fails.
- SHA-1 signatures (DSA-1024/SHA-1 of Ubuntu 8.10-era Release.gpg) are accepted: gpgv 2.2
  verifies them, and old releases have no other signature. (Current apt refuses them as weak;
  here the keyrings are explicit and the releases are archived, so the date decides instead.)
- `strip_clearsign(data)` returns the text of a clearsigned file without checking anything
  (for --no-verify).
Nothing here reads the user's ~/.gnupg: every run has its own temporary GNUPGHOME.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bootstrap.errors import VerificationError
from bootstrap.trust.gpgstatus import Signature, describe_failure, format_time, parse_status
from bootstrap.types import Log

_TIMEOUT = 120


def verify_inline(data: bytes, keyrings: Sequence[Path | str], *, log: Log | None = None,
                  name: str = "InRelease", signers: list[str] | None = None) -> bytes:
    """Check clearsigned `data`; return the signed text (what the signatures cover). The
    fingerprints of the keys whose signatures were accepted are appended to `signers`."""
    with _Workspace(keyrings, name) as ws:
        signed = ws.write("signed.asc", data)
        out = ws.tmp / "signed.txt"
        sigs = ws.gpgv(["--output", str(out), str(signed)])
        _note_signers(ws.judge(sigs, [signed], log), signers)
        if not out.exists():
            raise VerificationError(f"{name}: gpgv verified the signature but returned no text",
                                    hint="the file is not a clearsigned message")
        return out.read_bytes()


def verify_detached(data: bytes, signature: bytes, keyrings: Sequence[Path | str], *,
                    log: Log | None = None, name: str = "Release", signers: list[str] | None = None) -> None:
    """Check the detached `signature` (armored or binary) over `data`; the accepted keys'
    fingerprints are appended to `signers`."""
    with _Workspace(keyrings, name) as ws:
        files = [ws.write("sig", signature), ws.write("data", data)]
        _note_signers(ws.judge(ws.gpgv([str(f) for f in files]), files, log), signers)


def _note_signers(accepted: list[Signature], signers: list[str] | None) -> None:
    if signers is not None:
        signers.extend(dict.fromkeys(s.fingerprint or s.keyid for s in accepted if s.fingerprint or s.keyid))


def strip_clearsign(data: bytes) -> bytes:
    """The text of a clearsigned message, dash-escaping undone, as gpgv --output gives it.
    Data that is not clearsigned is returned unchanged (an unsigned InRelease is just text)."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    try:
        start = lines.index(b"-----BEGIN PGP SIGNED MESSAGE-----")
    except ValueError:
        return data
    i = start + 1
    while i < len(lines) and lines[i].strip():  # armor headers (Hash: SHA256) up to a blank line
        i += 1
    body: list[bytes] = []
    for line in lines[i + 1:]:
        if line.startswith(b"-----BEGIN PGP SIGNATURE-----"):
            break
        body.append(line[2:] if line.startswith(b"- ") else line)
    return b"\n".join(body) + b"\n"


class _Workspace:
    """A temporary GNUPGHOME holding the prepared keyrings and the files under check."""

    def __init__(self, keyrings: Sequence[Path | str], name: str) -> None:
        self.name = name
        self.sources = [Path(k) for k in keyrings]
        if not self.sources:
            raise VerificationError(f"{name}: no keyring to check the signature against",
                                    hint="give the archive's key with --keyring, or --no-verify")
        self.gpgv_bin = shutil.which("gpgv")
        if self.gpgv_bin is None:
            raise VerificationError("gpgv is not installed, so signatures cannot be checked",
                                    hint="install it (apt-get install gpgv), or use --no-verify")

    def __enter__(self) -> _Workspace:
        self._dir = tempfile.TemporaryDirectory(prefix="rootfs-gpg-")
        self.tmp = Path(self._dir.name)
        self.tmp.chmod(0o700)
        self.keyrings = [self._prepare(i, k) for i, k in enumerate(self.sources)]
        return self

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()

    def write(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def _prepare(self, index: int, keyring: Path) -> Path:
        """An absolute path gpgv can read (it looks relative names up in GNUPGHOME)."""
        if keyring.is_dir():  # config gives a directory's key files, never the directory
            raise VerificationError(f"{self.name}: keyring {keyring} is a directory, not a key file",
                                    hint="name the key files in it instead")
        if not keyring.is_file():
            raise VerificationError(f"{self.name}: keyring {keyring} not found",
                                    hint="check the path given with --keyring or the vendor's keys")
        with keyring.open("rb") as fh:
            armored = fh.read(64).lstrip().startswith(b"-----BEGIN PGP")
        if not armored:
            return keyring.resolve()
        out = self.tmp / f"keyring{index}.gpg"
        self._run([self._gpg("to dearmor " + str(keyring)), "--batch", "--homedir", str(self.tmp),
                   "--dearmor", "--output", str(out), str(keyring.resolve())])
        return out

    def _gpg(self, why: str) -> str:
        gpg = shutil.which("gpg")
        if gpg is None:
            raise VerificationError(f"{self.name}: gpg is needed {why} but is not installed",
                                    hint="install it (apt-get install gpg)")
        return gpg

    def _run(self, argv: list[str]) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=_TIMEOUT, cwd=self.tmp)
        except subprocess.TimeoutExpired:
            raise VerificationError(f"{self.name}: {Path(argv[0]).name} timed out") from None
        status = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0 and "[GNUPG:]" not in status:
            last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise VerificationError(f"{self.name}: {Path(argv[0]).name} failed: {last[0]}")
        return status

    def gpgv(self, files: list[str]) -> list[Signature]:
        argv = [str(self.gpgv_bin), "--homedir", str(self.tmp), "--status-fd", "1"]
        for keyring in self.keyrings:
            argv += ["--keyring", str(keyring)]
        return parse_status(self._run(argv + files))

    def gpg_at(self, when: int, files: list[Path]) -> list[Signature]:
        """gpg --verify with its clock frozen at `when` (gpgv has no such option)."""
        argv = [self._gpg("to check a signature by an expired key"), "--batch", "--no-options",
                "--homedir", str(self.tmp), "--no-default-keyring", "--trust-model", "always",
                "--faked-system-time", f"{when}!", "--status-fd", "1"]
        for keyring in self.keyrings:
            argv += ["--keyring", str(keyring)]
        return parse_status(self._run(argv + ["--verify", *(str(f) for f in files)]))

    def judge(self, sigs: list[Signature], files: list[Path], log: Log | None) -> list[Signature]:
        """Accept if one signature is good (or good at its own date), returning the accepted
        ones; else raise."""
        bad = [s for s in sigs if s.kind == "BADSIG"]
        if bad:
            raise VerificationError(
                f"{self.name}: BAD signature by key {bad[0].keyid} {bad[0].uid}".rstrip()
                + ": the file was altered or corrupted on its way",
                hint="retry or use another mirror; a bad signature is never ignored")
        good = [s for s in sigs if s.kind == "GOODSIG"]
        if good:
            return good
        for sig in sigs:
            if sig.kind == "EXPKEYSIG" and sig.sig_time and self._good_at_own_date(sig, files):
                if log is not None:
                    expired = format_time(sig.key_expired[0]) if sig.key_expired else "?"
                    log(f"notice: key {sig.keyid} ({sig.uid}) expired on {expired}, signature "
                        f"made {format_time(sig.sig_time)} checked at its own date")
                return [sig]
        message, hint = describe_failure(sigs, self.name, self.sources)
        raise VerificationError(message, hint=hint)

    def _good_at_own_date(self, sig: Signature, files: list[Path]) -> bool:
        again = self.gpg_at(sig.sig_time or 0, files)
        return any(s.kind == "GOODSIG" and s.fingerprint == sig.fingerprint for s in again)
