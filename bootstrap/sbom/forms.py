"""Raw package text in the forms the SBOM formats take: licences, suppliers, digests, ids.

Contracts:
- `spdx_expression(text)`: the licence text as a normalised SPDX expression when it parses
  against the SPDX licence list (license-expression) and names its licences by their SPDX ids
  as written; else None (`GPLv2+`, `Public Domain`, `MIT OR`). Normalising changes only the
  case of ids and operators, spaces and brackets: an alias the list would swap for another id
  (`GPL` → GPL-1.0-or-later, `BSD-2`, the deprecated `GPL-2.0+`) is no SPDX expression here,
  so the SBOM never states a licence the package did not declare. Never raises.
- `license_ref(text)`: a stable `LicenseRef-...` id for text that is no SPDX expression:
  the text itself where it is made of the allowed characters, else cleaned and suffixed
  with a digest of the text, so two texts never share an id.
- `party(text)`: "Name <mail>" → Party(name, mail, is_person); a text that names a group
  (Team, Maintainers, Project...) or has no mail address is an organisation.
- `spdx_id(text)`: text made of SPDX-id characters (letters, digits, `.`, `-`).
- `SPDX_ALGOS` / `CDX_ALGOS`: hashlib name → each format's algorithm name; algorithms a
  format does not know are absent (and left out of its documents).
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

SPDX_ALGOS = {"sha1": "SHA1", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384",
              "sha512": "SHA512", "sha3_256": "SHA3_256", "sha3_384": "SHA3_384",
              "sha3_512": "SHA3_512", "md5": "MD5", "blake2b": "BLAKE2b-512"}
CDX_ALGOS = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512",
             "sha3_256": "SHA3-256", "sha3_384": "SHA3-384", "sha3_512": "SHA3-512", "md5": "MD5",
             "blake2b": "BLAKE2b-512"}

_LAYOUT = re.compile(r"[\s()]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9.\-]+")
_MAIL = re.compile(r"^(?P<name>.*?)\s*<(?P<mail>[^<>@\s]+@[^<>\s]+)>\s*$")
_ANGLED = re.compile(r"\s*<([^<>]*)>\s*")
_GROUP_WORDS = re.compile(r"\b(team|maintainers|project|group|developers|community|foundation|"
                          r"inc|ltd|llc|gmbh|corporation|buildsystem|build system)\b", re.I)


@dataclass(frozen=True)
class Party:
    """A supplier: its name, mail address ("" if none), and whether it is one person."""

    name: str
    mail: str
    is_person: bool


@functools.cache
def _licensing() -> Any:
    # Loading the SPDX licence list takes a noticeable moment: once, and only when needed.
    # (license-expression ships no type information; pyproject.toml is not this package's.)
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    return get_spdx_licensing()


def spdx_expression(text: str) -> str | None:
    """`text` as a normalised SPDX licence expression, or None if it is none (see the
    module's contract)."""
    if not text.strip():
        return None
    try:
        info = _licensing().validate(text, strict=True)
    except Exception:  # license-expression itself fails on some malformed texts ("MIT OR")
        return None
    if info.errors or not info.normalized_expression:
        return None
    rendered = str(info.normalized_expression)
    if _squashed(rendered) != _squashed(text):
        return None  # an id swapped for an alias's target: not what the package declared
    return rendered


def _squashed(expression: str) -> str:
    """An expression without case, spaces and brackets: what normalising may change."""
    return _LAYOUT.sub("", expression).upper()


def spdx_id(text: str) -> str:
    """`text` with every run of characters an SPDX id may not hold turned into `-`."""
    return _NOT_ID.sub("-", text).strip("-") or "unnamed"


def license_ref(text: str) -> str:
    """The `LicenseRef-` id of licence text that is no SPDX expression (see the contract)."""
    clean = spdx_id(text)
    if clean == text:
        return f"LicenseRef-{clean}"
    return f"LicenseRef-{clean}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def party(text: str) -> Party:
    """The supplier a maintainer, packager or vendor field names (see the contract)."""
    text = " ".join(text.split())
    found = _MAIL.match(text)
    if found:
        name, mail = found["name"].strip().strip('"') or found["mail"], found["mail"]
    else:
        # "<http://bugs.centos.org>" and the like: no mail, kept as plain text.
        name, mail = " ".join(_ANGLED.sub(r" \1 ", text).split()), ""
    return Party(name=name, mail=mail, is_person=bool(mail) and not _GROUP_WORDS.search(name))
