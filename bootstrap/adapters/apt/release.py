"""apt's Release file (the body of InRelease): what a suite holds and the digests of its indexes.
Pure: text in, records out.

Contract: `parse_release(text)` accepts every generation of Release file seen in the wild:
current Debian (MD5Sum + SHA256, no SHA1), Ubuntu 8.10 (MD5Sum + SHA1 + SHA256, a Date with a
double space and a one-digit hour), reprepro output without Suite, and flat repositories whose
Release holds only a Date and hash sections. `Release.index_candidates(path)` names the
compressed variants of one index the Release lists, best first.
"""
from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from types import MappingProxyType

from bootstrap.adapters.apt.packages import split_stanzas
from bootstrap.adapters.checks import clip
from bootstrap.errors import RepositoryIndexError

# Hash sections of a Release file → hashlib names; and the by-hash directory each one uses.
HASH_SECTIONS = {"md5sum": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
BY_HASH_DIR = {"md5": "MD5Sum", "sha1": "SHA1", "sha256": "SHA256", "sha512": "SHA512"}
# Strongest first: an index is fetched (and checked) with the best digest the Release gives.
DIGEST_PREFERENCE = ("sha512", "sha256", "sha1", "md5")
# Compressions apt knows, in the order we prefer them: the quickest to decode first (measured on
# bookworm's 50 MB main Packages: zstd 0.14 s, gzip 0.11 s with ISA-L, 0.19 s with zlib; xz
# 0.6 s, bz2 slower still), as the index is inflated on every build whose parsed-index cache
# does not hold it. The uncompressed file, four times the download, comes last.
COMPRESSIONS = (".zst", ".gz", ".xz", ".bz2", "")


@dataclass(frozen=True)
class ReleaseFile:
    """One file a Release lists: its path under the suite directory, size and digests."""

    path: str
    size: int
    digests: Mapping[str, str]  # hashlib name (sha256, sha1, md5) -> lowercase hex

    def strongest(self) -> tuple[str, str]:
        """(algo, hexdigest) of the strongest digest given for this file."""
        for algo in DIGEST_PREFERENCE:
            if algo in self.digests:
                return algo, self.digests[algo]
        raise RepositoryIndexError(f"Release lists {self.path} without any digest")


@dataclass(frozen=True)
class Release:
    """A parsed Release. `fields` keeps every single-line field for what this class does not
    name (No-Support-for-Architecture-all, Description...)."""

    origin: str
    label: str
    suite: str
    codename: str
    version: str
    date: datetime | None
    valid_until: datetime | None
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    acquire_by_hash: bool
    files: Mapping[str, ReleaseFile]
    fields: Mapping[str, str] = dc_field(default_factory=dict)

    def field(self, name: str, default: str = "") -> str:
        """A raw field of the Release, by case-insensitive name."""
        return self.fields.get(name.lower(), default)

    @property
    def arch_all_in_arch_indexes(self) -> bool:
        """`No-Support-for-Architecture-all: Packages`: the archive also publishes binary-all,
        but every arch:all package is already in each binary-<arch>/Packages, so a client
        must not fetch binary-all (it would only duplicate them)."""
        return "packages" in self.field("no-support-for-architecture-all").lower().split()

    def index_candidates(self, path: str) -> list[ReleaseFile]:
        """The listed variants of index `path` (`main/binary-amd64/Packages`): .xz, .zst, .gz,
        .bz2, then uncompressed, keeping only those the Release lists."""
        return [self.files[path + ext] for ext in COMPRESSIONS if path + ext in self.files]


def parse_release(text: bytes | str) -> Release:
    """A Release file (or an InRelease body already stripped of its signature)."""
    stanzas = list(split_stanzas(text))
    if not stanzas:
        raise RepositoryIndexError("the Release file is empty", hint="the mirror may be broken")
    raw = stanzas[0]
    single = {k.lower(): v for k, v in raw if "\n" not in v and k.lower() not in HASH_SECTIONS}
    files = _parse_hash_sections(raw)
    return Release(
        origin=single.get("origin", ""), label=single.get("label", ""),
        suite=single.get("suite", ""), codename=single.get("codename", ""),
        version=single.get("version", ""),
        date=parse_date(single.get("date", "")),
        valid_until=_parse_valid_until(single.get("valid-until", "")),
        architectures=tuple(single.get("architectures", "").split()),
        components=tuple(single.get("components", "").split()),
        acquire_by_hash=single.get("acquire-by-hash", "").lower() == "yes",
        files=MappingProxyType(files), fields=MappingProxyType(single),
    )


def _parse_hash_sections(raw: list[tuple[str, str]]) -> dict[str, ReleaseFile]:
    sizes: dict[str, int] = {}
    digests: dict[str, dict[str, str]] = {}
    for key, value in raw:
        algo = HASH_SECTIONS.get(key.lower())
        if algo is None:
            continue
        for line in value.splitlines():
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3 or not parts[1].isdigit():
                raise RepositoryIndexError(f"malformed {key} line in Release: {clip(line.strip())}",
                                           hint="the Release file is corrupt")
            digest, size, path = parts
            sizes.setdefault(path, int(size))
            digests.setdefault(path, {})[algo] = digest.lower()
    return {path: ReleaseFile(path, sizes[path], MappingProxyType(d)) for path, d in digests.items()}


def parse_date(text: str) -> datetime | None:
    """An RFC 2822 date as apt writes it (`Sat, 11 Jul 2026 10:16:37 UTC`), tolerating double
    spaces and one-digit hours; timezone-aware (UTC when the zone is a name); None if absent or
    unreadable (Date is informational)."""
    text = " ".join(text.split())
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year past C's int
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_valid_until(text: str) -> datetime | None:
    """Valid-Until guards against replayed old indexes, so an unreadable one is an error
    rather than silently no limit."""
    if not text.strip():
        return None
    parsed = parse_date(text)
    if parsed is None:
        raise RepositoryIndexError(f"cannot read the Release file's Valid-Until: {clip(text)}",
                                   hint="the Release file is corrupt")
    return parsed
