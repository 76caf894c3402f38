"""A repository's APKINDEX.tar.gz as a build reads it: its signature checked every time, its
text parsed once per version (the fast pass, fastindex.py) and kept in the parsed-index cache
(bootstrap.indexcache).

Contract of `load_index(data, keys, what, log, *, where, origin, cache, vet)`:
- The cache key is the SHA-256 of `data`, the whole APKINDEX.tar.gz as fetched: computing it
  costs less than a millisecond, and the same bytes are the same signed index, which is what
  the entry was read from. `origin` (the index's URL) groups the entries of one index.
- Verified as index.read_index verifies it (`keys` None: --no-verify, nothing checked; `{}`:
  VerificationError), on a cache hit too, as apk-tools checks the signature on each run. On
  a hit only the signature stream is inflated (a few hundred bytes): the entry records where
  the signed control stream lies in these very bytes, the signatures are checked over it.
- `vet(built)` (the rollback check, rollback.py) is called with the signed build time of a
  verified index before anything of it is used or stored: an index it refuses is never cached.
- A miss reads the index with index.read_index, then the fast pass (Scanner(`where`)), into a
  new entry. Without a cache (a fetcher without cache_dir) the entry is held in memory.
Errors: those of read_index and the fast pass (RepositoryIndexError, VerificationError), and
of `vet` (StaleIndex).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from bootstrap.adapters.apk import fastindex
from bootstrap.adapters.apk.index import read_index
from bootstrap.adapters.apk.package import tar_members
from bootstrap.adapters.apk.signature import signatures_from_members
from bootstrap.errors import RepositoryIndexError, UnpackError, VerificationError
from bootstrap.indexcache import Entry, IndexCache, new_entry
from bootstrap.trust import rsa
from bootstrap.types import Log

# The parsed-index cache's name for what fastindex records; a change to it changes the version.
KIND = "apk-index/2"


@dataclass(frozen=True)
class LoadedIndex:
    """A verified index: its DESCRIPTION, the key that verified it ("" when unchecked), its
    signed build time (index.IndexFile.built) and the entry fastindex.packages reads."""

    description: str
    signer: str
    built: int
    entry: Entry


def load_index(data: bytes, keys: dict[str, bytes] | None, what: str, log: Log, *, where: str, origin: str,
               cache: IndexCache | None, vet: Callable[[int], None] | None = None) -> LoadedIndex:
    """`data` verified, and its parsed entry (module docstring)."""
    key = "sha256:" + hashlib.sha256(data).hexdigest()
    entry = cache.load(KIND, key, origin) if cache is not None else None
    if entry is not None:
        head = entry.meta["head"]
        signer = _verify(data, head["control"], keys, what, log)
        if vet is not None and keys is not None:
            vet(head["built"])
        return LoadedIndex(head["description"], signer, head["built"], entry)
    index = read_index(data, keys, what, log)
    if vet is not None and keys is not None:
        vet(index.built)
    kept, meta = fastindex.Scanner(where).scan(index.text)
    meta["head"] = {"description": index.description, "built": index.built, "control": list(index.control)}
    with new_entry(cache, KIND, key, origin) as out:
        out.add_text(kept)
        out.finish(meta)
    return LoadedIndex(index.description, index.signer, index.built, out.entry())


def _verify(data: bytes, control: list[int], keys: dict[str, bytes] | None, what: str, log: Log) -> str:
    """read_index's verification of `data`, whose control stream the cache says is
    `control` (offset, length): the signature stream before it read again, the signatures
    checked over it. These are the bytes the entry was made from (its key is their digest)."""
    if keys is None:
        return ""
    if not keys:
        raise VerificationError(f"{what}: no trusted apk keys are configured",
                                hint="pass the repository's public key with --keyring FILE")
    offset, length = control
    try:
        signatures = signatures_from_members(tar_members(data[:offset], what)) if offset else []
    except UnpackError as exc:
        raise RepositoryIndexError(exc.message) from None
    return rsa.verify(data[offset:offset + length], signatures, keys, what, log=log)
