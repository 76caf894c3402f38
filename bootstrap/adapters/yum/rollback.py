"""A yum repository's repomd.xml must not go backwards, nor lose its signature.

A mirror that is frozen, or that replays an old repomd.xml with its valid old repomd.xml.asc,
offers older packages (each still validly signed) than the repository already offered this
cache. dnf (through libsolv's repomd timestamps and the metalink) and TUF (a version that
never decreases) refuse that; so does this module, through bootstrap.freshness.

What is compared, per repomd.xml URL (one mirror of one repository: the mirrors of one
mirrorlist lag each other by hours, so they are not held to each other's state):
- `revision`, when it is a decimal number: createrepo's default is the time it ran, Fedora's
  and openSUSE's are numbers too. A free-text revision (`createrepo --revision abc`) has no
  order and is not compared;
- `timestamp`: the newest `<timestamp>` of the files repomd.xml lists (createrepo's are the
  times the metadata was made), which catches a rollback with a hand-set revision.

When:
- a repomd.xml whose .asc verified against the repository's keys is checked (StaleIndex when
  older) and recorded;
- one served without a .asc where this cache saw this repository signed and verified before is
  refused (VerificationError): a stripped signature, which would otherwise also switch the
  rollback check off, and which repo_gpgcheck=0 (CentOS's setting) would let through;
- nothing is checked or kept for an index read unverified (--no-verify, no key to check the
  .asc with, a repository that never signed): its values could be anyone's.
"""
from __future__ import annotations

from datetime import UTC, datetime

from bootstrap.adapters.yum.repomd import RepoMd
from bootstrap.errors import VerificationError
from bootstrap.freshness import Mark, Seen
from bootstrap.types import Fetcher, Repository

# How _check_repomd found repomd.xml.asc: verified, absent, or present but not checked.
VERIFIED, ABSENT, UNCHECKED = "verified", "absent", "unchecked"


def marks(repomd: RepoMd) -> list[Mark]:
    """What orders two repomd.xml of one repository (module docstring)."""
    found = []
    revision = repomd.revision
    if revision.isascii() and revision.isdigit() and len(revision) <= 18:
        found.append(Mark("revision", int(revision)))
    if repomd.timestamp:
        when = datetime.fromtimestamp(min(repomd.timestamp, 253402300799), UTC)
        found.append(Mark("timestamp", repomd.timestamp, f"{when:%Y-%m-%d %H:%M:%S} UTC"))
    return found


def check_repomd_freshness(repo: Repository, url: str, repomd: RepoMd, signature: str,
                           fetcher: Fetcher) -> None:
    """Refuse a repomd.xml (at `url`) older than this cache saw, or stripped of the signature it
    had; record a verified one. `signature` is VERIFIED, ABSENT or UNCHECKED."""
    seen = Seen.of(fetcher)
    if seen is None or not repo.verify:
        return
    if signature == VERIFIED:
        seen.advance(url, marks(repomd), f"repository {repo.id}: {url}")
    elif signature == ABSENT and seen.recorded(url) is not None:
        raise VerificationError(
            f"repository {repo.id}: {url} comes without repomd.xml.asc, but this cache saw it signed; "
            "the signature may have been stripped",
            hint="use a mirror that carries the signature; if the repository stopped signing, "
                 f"remove {seen.path(url)} (or use another --cache-dir)")
