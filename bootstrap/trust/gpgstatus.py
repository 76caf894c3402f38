"""gpg's machine-readable status lines (`--status-fd`), one record per signature. Pure.

Status keywords used (see gnupg's doc/DETAILS): NEWSIG starts a signature; then one of GOODSIG,
EXPKEYSIG (good, but the key has expired by now), EXPSIG (the signature itself expired),
REVKEYSIG (key revoked), BADSIG (does not match the data), ERRSIG (cannot check: rc 9 = no
public key, rc 4 = unsupported algorithm); VALIDSIG gives the signing key's fingerprint and the
signature's time; KEYEXPIRED the expiry time of a key involved.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_LAST_SECOND = 253402300799  # 9999-12-31 23:59:59 UTC, the last time datetime can hold
_VERDICTS = ("GOODSIG", "EXPKEYSIG", "EXPSIG", "REVKEYSIG", "BADSIG", "ERRSIG")


@dataclass(frozen=True)
class Signature:
    """What gpg said about one signature. `kind` is the verdict keyword ("" if none came)."""

    kind: str = ""
    keyid: str = ""
    uid: str = ""
    fingerprint: str = ""
    sig_time: int | None = None
    key_expired: tuple[int, ...] = ()
    error_code: str = ""


def parse_status(text: str) -> list[Signature]:
    """Every signature gpg reported on, in order."""
    records: list[dict] = []
    current: dict | None = None
    for line in text.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        tag, *args = line[9:].split(" ")
        if tag == "NEWSIG" or (tag in _VERDICTS and (current is None or current.get("kind"))):
            current = {"key_expired": []}
            records.append(current)
            if tag == "NEWSIG":
                continue
        if current is None:
            continue
        _apply(current, tag, args)
    return [Signature(kind=r.get("kind", ""), keyid=r.get("keyid", ""), uid=r.get("uid", ""),
                      fingerprint=r.get("fingerprint", ""), sig_time=r.get("sig_time"),
                      key_expired=tuple(r["key_expired"]), error_code=r.get("error_code", ""))
            for r in records]


def _apply(record: dict, tag: str, args: list[str]) -> None:
    if tag in _VERDICTS:
        record["kind"] = tag
        record["keyid"] = args[0] if args else ""
        if tag == "ERRSIG":
            record["error_code"] = args[5] if len(args) > 5 else ""
            record["sig_time"] = _time(args[4]) if len(args) > 4 else None
            if len(args) > 6 and args[6] != "-":
                record["fingerprint"] = args[6]
        else:
            record["uid"] = " ".join(args[1:])
    elif tag == "VALIDSIG" and len(args) > 2:
        record["fingerprint"] = args[0]
        record["sig_time"] = _time(args[2])
    elif tag == "KEYEXPIRED" and args:
        stamp = _time(args[0])
        if stamp is not None:
            record["key_expired"].append(stamp)
    elif tag == "NO_PUBKEY" and args and not record.get("keyid"):
        record["keyid"] = args[0]


def _time(text: str) -> int | None:
    """gpg writes seconds since the epoch, or an ISO time (20081009T210020) in some modes.
    None for anything else, a time past the year 9999 included (format_time could not show
    it; int() refuses non-ASCII digits such as `²` and runs of more than 4,300)."""
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 12 and int(text) <= _LAST_SECOND else None
    try:
        return int(datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def format_time(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_failure(sigs: Sequence[Signature], name: str,
                     keyrings: Sequence[Path]) -> tuple[str, str]:
    """(message, hint) for a file none of whose signatures could be accepted."""
    rings = ", ".join(str(k) for k in keyrings)
    if not sigs:
        return (f"{name}: no OpenPGP signature found",
                "the mirror serves an unsigned or truncated file; use --no-verify only if you trust it")
    unknown = [s.keyid for s in sigs if s.kind == "ERRSIG" and s.error_code == "9"]
    if unknown and len(unknown) == len(sigs):
        return (f"{name}: signed only by unknown key(s) {', '.join(unknown)}",
                f"none is in {rings}; add the archive's key with --keyring")
    for s in sigs:
        if s.kind == "EXPKEYSIG":
            when = format_time(s.key_expired[0]) if s.key_expired else "some time"
            made = format_time(s.sig_time) if s.sig_time else "?"
            return (f"{name}: signed by key {s.keyid} ({s.uid}) which expired on {when}; the "
                    f"signature made {made} does not check at its own date either",
                    "the key was not valid when it signed: the file is not trustworthy")
        if s.kind == "REVKEYSIG":
            return (f"{name}: signed by revoked key {s.keyid} ({s.uid})",
                    "a revoked key is never trusted; check the mirror")
        if s.kind == "EXPSIG":
            return (f"{name}: the signature by {s.keyid} has expired",
                    "the mirror serves an outdated file")
    codes = ", ".join(f"{s.keyid or '?'} (gpg code {s.error_code or s.kind or '?'})" for s in sigs)
    return (f"{name}: no signature could be checked: {codes}",
            f"gpg may not support the signature's algorithm; keyrings used: {rings}")
