"""An apt repository's index: InRelease (or Release + Release.gpg) → verified Release →
Packages indexes → Package records. The parsers are pure and live in release.py and
packages.py (on deb822.py's reader; re-exported here); this module only decides what to fetch
and what to trust.

Contract of `load_apt_repository(repo, arch, fetcher, log, now=None)`:
- `repo.url` is the archive root, `repo.suite` the distribution (`bookworm`), or a path ending
  in "/" for a flat repository (`./`, `debian/`), whose Packages sits in that directory and
  whose Filename fields are relative to `repo.url` (as apt reads them).
- The Release is verified against `repo.keyrings` unless `repo.verify` is False (then a WARNING
  is logged). Valid-Until is enforced against `now` unless the repository's repos.d options say
  `check_valid_until = no` (archived releases), and a Date more than FUTURE_TOLERANCE (10 s, apt's
  Acquire::Max-FutureTime) ahead of `now` is refused ("not valid yet", apt's Acquire::Check-Date)
  unless they say `check_date = no`. `now` defaults to the wall clock (SOURCE_DATE_EPOCH never
  counts: this is security, not output).
- Rollback (a frozen or replayed mirror): the Date of a verified Release is recorded in the
  fetcher's cache per suite URL (bootstrap.freshness); a Release older than one this cache
  already saw there is refused, as apt keeps its newer lists. A Release without a Date, or
  read with --no-verify, is neither checked nor recorded.
- For each component, binary-<arch>/Packages is fetched in the best compression the Release
  lists (xz, zst, gz, bz2, plain), checked with its strongest digest (by-hash URL first when the
  Release says Acquire-By-Hash), and parsed; binary-all/Packages too when the Release's Architectures lists `all`
  (or is absent) and it does not say `No-Support-for-Architecture-all: Packages` (then arch:all
  packages are already in the per-architecture index), as apt decides. The same package listed twice is returned once.
Errors: RepositoryNotFound (no (In)Release), VerificationError (signature), StaleIndex (expired,
not valid yet, older than seen),
RepositoryIndexError (missing component/architecture, corrupt index), ChecksumError/FetchError
from the fetcher.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bootstrap import compression
from bootstrap.adapters.apt import fastindex
from bootstrap.adapters.apt.packages import (
    PRIORITY_RANK,
    _parse_atom,
    compare_versions,
    debian_version_scheme,
    parse_flat_relations,
    parse_packages,
    parse_relations,
    split_stanzas,
)
from bootstrap.adapters.apt.release import BY_HASH_DIR, Release, ReleaseFile, parse_date, parse_release
from bootstrap.adapters.mirrors import mirror_hint
from bootstrap.compression import describe_size
from bootstrap.errors import (
    ChecksumError,
    FetchError,
    RepositoryIndexError,
    RepositoryNotFound,
    StaleIndex,
    VerificationError,
)
from bootstrap.freshness import Mark, Seen
from bootstrap.indexcache import Entry, EntryWriter, IndexCache, new_entry
from bootstrap.trust import strip_clearsign, verify_detached, verify_inline
from bootstrap.types import Checksum, Fetcher, IndexStamp, Log, Package, Repository, iso_utc

__all__ = [
    "PRIORITY_RANK",
    "AptIndex",
    "Release",
    "ReleaseFile",
    "compare_versions",
    "debian_version_scheme",
    "load_apt_index",
    "load_apt_repository",
    "parse_date",
    "parse_packages",
    "parse_relations",
    "parse_release",
    "split_stanzas",
    "suite_url",
]

# The parsed-index cache's name for what fastindex records; a change to it changes the version.
_KIND = "apt-packages/4"

# How far ahead of this machine's clock a Release's Date may be: apt's Acquire::Max-FutureTime.
FUTURE_TOLERANCE = timedelta(seconds=10)


def suite_url(repo: Repository) -> str:
    """The directory holding the suite's (In)Release: `<url>/dists/<suite>/`, or for a flat
    repository `<url>/<suite>` (`./` meaning the root itself)."""
    base = repo.url if repo.url.endswith("/") else repo.url + "/"
    if repo.suite.endswith("/"):
        sub = repo.suite.lstrip("/")
        while sub.startswith("./"):
            sub = sub[2:]
        return base + sub
    return f"{base}dists/{repo.suite}/"


@dataclass(frozen=True)
class AptIndex:
    """One repository's index as read: its packages, the stamp of the (In)Release they came
    from, and the fingerprints of the keys that verified it."""

    packages: list[Package]
    stamp: IndexStamp
    signers: tuple[str, ...] = ()


def load_apt_repository(repo: Repository, arch: str, fetcher: Fetcher, log: Log, *,
                        now: datetime | None = None) -> list[Package]:
    """Every package `repo` offers for `arch` (and `all`); see the module docstring."""
    return load_apt_index(repo, arch, fetcher, log, now=now).packages


def load_apt_index(repo: Repository, arch: str, fetcher: Fetcher, log: Log, *,
                   now: datetime | None = None) -> AptIndex:
    """load_apt_repository, with the index's stamp and signers (what a lock records)."""
    dist = suite_url(repo)
    signers: list[str] = []
    release, stamp = _load_release(repo, dist, fetcher, log, signers)
    now = _aware(now or datetime.now(UTC))
    _check_valid_until(release, repo, dist, now, log)
    _check_date(release, repo, dist, now, log)
    _check_rollback(release, repo, dist, now, fetcher)
    names = {n for n in (release.suite, release.codename) if n}
    if names and not repo.suite.endswith("/") and repo.suite not in names:
        # apt's "Conflicting distribution": a mirror path pointing at another release.
        log(f"WARNING: {dist} says it is {'/'.join(sorted(names))}, not {repo.suite}")
    base = repo.url if repo.url.endswith("/") else repo.url + "/"
    packages: list[Package] = []
    seen: set[str] = set()
    numbering = fastindex.Numbering()  # apt's package numbering, across the repository's components
    cache = IndexCache.of(fetcher, log)
    for path in _index_paths(release, repo, arch, dist):
        entry = _read_index(release, dist, path, fetcher, cache)
        for pkg in fastindex.packages(entry.take_meta(), entry.text, base_url=base, repo_id=repo.id,
                                      numbering=numbering):
            if pkg.key not in seen:
                seen.add(pkg.key)
                packages.append(pkg)
    dated = replace(stamp, date=iso_utc(release.date.timestamp()) if release.date else "")
    return AptIndex(packages, dated, tuple(signers))


def _load_release(repo: Repository, dist: str, fetcher: Fetcher, log: Log,
                  signers: list[str]) -> tuple[Release, IndexStamp]:
    """InRelease if the mirror has it, else Release + Release.gpg (older archives, reprepro);
    with the stamp (URL and digest) of the file read, and its signers appended to `signers`."""
    inrelease = fetcher.try_get_bytes(dist + "InRelease")
    if inrelease is not None:
        if repo.verify:
            text = verify_inline(inrelease, _keyrings(repo), log=log, name=dist + "InRelease",
                                 signers=signers)
        else:
            log(f"WARNING: not verifying {dist}InRelease (--no-verify)")
            text = strip_clearsign(inrelease)
        return parse_release(text), _stamp(dist + "InRelease", inrelease)
    release = fetcher.try_get_bytes(dist + "Release")
    if release is None:
        raise RepositoryNotFound(f"no InRelease or Release file at {dist}",
                                 hint=f"check the suite name, or {mirror_hint(repo, dist + 'InRelease')}")
    if not repo.verify:
        log(f"WARNING: not verifying {dist}Release (--no-verify)")
        return parse_release(release), _stamp(dist + "Release", release)
    signature = fetcher.try_get_bytes(dist + "Release.gpg")
    if signature is None:
        raise VerificationError(f"{dist}Release is not signed (no InRelease, no Release.gpg)",
                                hint="use --no-verify only for a repository you trust")
    verify_detached(release, signature, _keyrings(repo), log=log, name=dist + "Release", signers=signers)
    return parse_release(release), _stamp(dist + "Release", release)


def _stamp(url: str, data: bytes) -> IndexStamp:
    return IndexStamp(url, hashlib.sha256(data).hexdigest())


def _keyrings(repo: Repository) -> list[Path]:
    return [Path(k) for k in repo.keyrings]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _disabled(repo: Repository, name: str) -> bool:
    return _option(repo, name, "yes").lower() in ("no", "0", "false")


def _check_valid_until(release: Release, repo: Repository, dist: str, now: datetime,
                       log: Log) -> None:
    """Refuse a Release past its Valid-Until: a mirror (or attacker) replaying an old index
    would otherwise hide security updates."""
    if release.valid_until is None:
        return
    if _disabled(repo, "check_valid_until"):
        log(f"notice: {dist}: Valid-Until {release.valid_until:%Y-%m-%d} not checked (check_valid_until = no)")
        return
    if now > release.valid_until:
        raise StaleIndex(
            f"Release file for {dist} is expired (invalid since {_utc(release.valid_until)})",
            hint="the mirror is out of date or replays an old index (or this machine's clock is "
                 "wrong); use a current mirror, or set check_valid_until = no for an archived release")


def _check_date(release: Release, repo: Repository, dist: str, now: datetime, log: Log) -> None:
    """Refuse a Release dated ahead of the clock (apt's Acquire::Check-Date): either clock is
    wrong, and recording such a Date would lock this cache out of the real later ones."""
    if release.date is None or release.date <= now + FUTURE_TOLERANCE:
        return
    if _disabled(repo, "check_date"):
        log(f"notice: {dist}: Date {_utc(release.date)} is ahead of the clock; not checked (check_date = no)")
        return
    ahead = release.date - now
    raise StaleIndex(
        f"Release file for {dist} is not valid yet (its Date, {_utc(release.date)}, is "
        f"{_duration(ahead)} ahead of this machine's clock)",
        hint="this machine's clock or the mirror's is wrong; fix the clock, or set check_date = no "
             "for the repository")


def _duration(delta: timedelta) -> str:
    """`2d 3h`, `5h 2min`, `3min 20s`, `42s`: the two largest units."""
    seconds = int(delta.total_seconds())
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    for (unit, size), (small, small_size) in itertools.pairwise(units):
        if seconds >= size:
            return f"{seconds // size}{unit} {seconds % size // small_size}{small}"
    return f"{seconds}s"


def _check_rollback(release: Release, repo: Repository, dist: str, now: datetime, fetcher: Fetcher) -> None:
    """A verified Release must not be older than one this cache already saw for the suite
    (bootstrap.freshness); its Date is then recorded as the newest seen. A Date ahead of the
    clock (let through by check_date = no) is not recorded: it would lock the real later
    Releases out."""
    seen = Seen.of(fetcher)
    if seen is None or not repo.verify or release.date is None or release.date > now + FUTURE_TOLERANCE:
        return
    mark = Mark("Date", int(release.date.timestamp()), _utc(release.date))
    seen.advance(dist, [mark], f"the Release of {dist}")


def _option(repo: Repository, name: str, default: str) -> str:
    return repo.option(name, repo.option(name.replace("_", "-"), default))


def _index_paths(release: Release, repo: Repository, arch: str, dist: str) -> list[str]:
    """The Packages indexes to read, as paths under `dist` (without compression suffix)."""
    if repo.suite.endswith("/"):
        return ["Packages"]
    if release.architectures and arch not in release.architectures:
        raise RepositoryIndexError(f"{dist} has no packages for architecture {arch}",
                                   hint=f"it carries: {' '.join(release.architectures)}")
    if not repo.components:
        raise RepositoryIndexError(f"no components given for {dist}",
                                   hint=f"the Release lists: {' '.join(release.components)}")
    paths = []
    for comp in repo.components:
        comp_dir = _component_dir(release, comp, arch)
        if comp_dir is None:
            raise RepositoryIndexError(
                f"{dist}: component {comp!r} has no Packages index for {arch}",
                hint=f"the Release lists components: {' '.join(release.components) or '(none)'}")
        paths.append(f"{comp_dir}/binary-{arch}/Packages")
        all_path = f"{comp_dir}/binary-all/Packages"
        if _wants_arch_all(release) and release.index_candidates(all_path):
            paths.append(all_path)
    return paths


def _wants_arch_all(release: Release) -> bool:
    """apt's rule: binary-all is read only when the Release's Architectures lists `all` (or
    has no such field) and does not say its arch:all packages are already in the
    per-architecture indexes. Debian's security archive lists no `all` yet still ships a
    stale binary-all index, whose digest no longer matches: reading it would fail the build."""
    if release.arch_all_in_arch_indexes:
        return False
    return not release.architectures or "all" in release.architectures


def _component_dir(release: Release, comp: str, arch: str) -> str | None:
    """`comp` itself, or for `updates/main` (how security suites used to be named) `main`."""
    candidates = [comp] + ([comp.split("/", 1)[1]] if "/" in comp else [])
    for name in candidates:
        if release.index_candidates(f"{name}/binary-{arch}/Packages"):
            return name
    return None


def _read_index(release: Release, dist: str, path: str, fetcher: Fetcher, cache: IndexCache | None) -> Entry:
    """The fast pass over index `path`, from the parsed-index cache when it holds the digest
    the Release gives (nothing is fetched then), else fetched (`_fetch_variant`), inflated
    piece by piece into the pass and into a new cache entry. The Release's digest of the
    uncompressed index, when it gives one, is checked too: it is the cache's key."""
    plain = release.files.get(path)
    # The Release states the size of the uncompressed index too (when it lists it): no variant
    # may inflate past it. Otherwise the ceiling.
    limit = plain.size if plain is not None else compression.INDEX_LIMIT
    if cache is not None and plain is not None:
        found = cache.load(_KIND, _key(plain), dist + path)
        if found is not None:
            return found
    listed, raw = _fetch_variant(release, dist, path, fetcher, limit)
    key = _key(plain if plain is not None else listed)
    if cache is not None and plain is None:
        found = cache.load(_KIND, key, dist + path)
        if found is not None:
            return found
    with new_entry(cache, _KIND, key, dist + path) as out:
        _scan(raw, listed.path, dist, limit, plain, out)
    return out.entry()


def _key(entry: ReleaseFile) -> str:
    algo, digest = entry.strongest()
    return f"{algo}:{digest}"


def _scan(raw: bytes, name: str, dist: str, limit: int, plain: ReleaseFile | None, out: EntryWriter) -> None:
    """Inflate `raw` piece by piece through the fast pass into `out`; the uncompressed
    content must have the digest the Release gives for it (`plain`)."""
    scanner = fastindex.Scanner(f"index {dist}{name}")
    algo, digest = plain.strongest() if plain is not None else ("sha256", "")
    hashed = hashlib.new(algo)
    try:
        for piece in compression.chunks(raw, name, limit):
            hashed.update(piece)
            out.add_text(scanner.feed(piece))
    except compression.TooLarge as exc:
        raise RepositoryIndexError(f"{dist}{name} {exc}", hint="the index is corrupt or hostile") from None
    except ValueError as exc:
        raise RepositoryIndexError(f"{dist}{name}: cannot decompress ({exc})",
                                   hint="the mirror serves a corrupt index") from None
    if digest and hashed.hexdigest() != digest.lower():
        raise ChecksumError(f"{dist}{name} inflates to content whose {algo} is not the one the Release gives",
                            hint="the mirror serves a corrupt index; try another mirror")
    rest, meta = scanner.finish()
    out.add_text(rest)
    out.finish(meta)
    # The pass filled the relation parser's caches with ~10 MiB of relations that its rows
    # now hold as tuples; a build's memory is better spent on the unpacker.
    for cached in (parse_relations, parse_flat_relations, _parse_atom):
        cached.cache_clear()


def _fetch_variant(release: Release, dist: str, path: str, fetcher: Fetcher, limit: int) -> tuple[ReleaseFile, bytes]:
    """The best listed variant of `path` (the quickest to decode first), checked, still
    compressed. A variant the mirror does not have (CDs list uncompressed Packages they do
    not carry) falls through to the next; a variant that arrives with the wrong digest is an
    error, never skipped. A size past the ceiling is refused unread."""
    last: FetchError | None = None
    for entry in release.index_candidates(path):
        if max(entry.size, limit) > compression.INDEX_LIMIT:
            raise RepositoryIndexError(
                f"{dist}Release claims {path} is {describe_size(max(entry.size, limit))}; refusing "
                f"(more than {describe_size(compression.INDEX_LIMIT)})", hint="the Release file is corrupt or hostile")
        algo, digest = entry.strongest()
        urls = [dist + entry.path]
        if release.acquire_by_hash:
            folder = entry.path.rsplit("/", 1)[0] + "/" if "/" in entry.path else ""
            urls.insert(0, f"{dist}{folder}by-hash/{BY_HASH_DIR[algo]}/{digest}")
        for url in urls:
            try:
                return entry, fetcher.get_bytes(url, (Checksum(algo, digest),), entry.size)
            except ChecksumError:
                raise
            except FetchError as exc:
                last = exc
    if last is not None:
        raise last
    raise RepositoryIndexError(f"{dist}: the Release lists no {path}", hint="the mirror may be broken")

