"""The fetch and unpack phases: each package's download (its mirrors, a store's copy, the
adapter's cache key), the family's checks of every payload, the unpack in order.

Contract of `fetch_and_unpack(plan, fetcher, root, report, store)`: every package is fetched
(verified against its digests by the fetcher), checked by the adapter (`check_payload`; a copy
named by a cache key that fails it is forgotten by the cache), then unpacked in the plan's
order after the seeded ones; the adapter's `release` runs whatever happens.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from bootstrap.adapters import Installed
from bootstrap.buildplan import Plan
from bootstrap.errors import BootstrapError
from bootstrap.report import Reporter, mib
from bootstrap.root import Root
from bootstrap.types import Fetcher, FetchItem, Package, RepoTrust


def fetch_item(the_plan: Plan, pkg: Package, store: Path | None = None) -> FetchItem:
    """What to download for `pkg`: its location, with its repository's other mirrors after
    it, the copy in `store` (laid out as `fetch --store` writes it) before them when there is
    one, and the adapter's cache key when the index gives no digest of the file."""
    trust = trust_of(the_plan, pkg)
    others = alternates(pkg.location, trust)
    url = pkg.location
    if store is not None:
        kept = store_path(store, pkg, trust)
        if kept.is_file():
            url, others = kept.resolve().as_uri(), (pkg.location, *others)
    return FetchItem(url, pkg.checksums, pkg.size, pkg.key, alternates=others,
                     cache_key=the_plan.adapter.payload_key(pkg))


def fetch_and_unpack(the_plan: Plan, fetcher: Fetcher, root: Root, report: Reporter,
                      store: Path | None = None) -> list[Installed]:
    adapter = the_plan.adapter
    total = sum(p.size for p in the_plan.packages)
    count = len(the_plan.packages)
    try:
        # The fetcher draws the fetch phase's bar itself (bytes downloaded).
        with report.phase("fetch", f"{count} packages, {mib(total)}"):
            items = [fetch_item(the_plan, p, store) for p in the_plan.packages]
            # An adapter that can (apt) starts decompressing each package as it arrives.
            ready = adapter.preload(the_plan.packages)
            paths = fetcher.get_many(items, on_done=ready)
            for pkg, path, item in zip(the_plan.packages, paths, items, strict=True):
                try:
                    adapter.check_payload(pkg, path, trust_of(the_plan, pkg))
                except BootstrapError:
                    fetcher.forget(item)  # a copy named by its cache key that is bad
                    raise
        installed = list(the_plan.seeded)
        # Bytes of the packages unpacked, each counted when it is done; packages of N where
        # an index gave no sizes.
        sized = all(p.size > 0 for p in the_plan.packages)
        with report.phase("unpack", f"{count} packages, {mib(total)}", total=total if sized else count,
                          unit="B" if sized else "packages") as meter:
            adapter.prepare_root(root)
            for done, (pkg, path) in enumerate(zip(the_plan.packages, paths, strict=True), 1):
                installed.append(adapter.unpack(pkg, path, root))
                meter.advance(pkg.size if sized else 1)
                meter.note(f"{done}/{count} packages")
    finally:
        adapter.release()  # on failure or Ctrl-C too: no decompression left running
    return installed


def alternates(location: str, trust: RepoTrust) -> tuple[str, ...]:
    """The package's URL on each of its repository's other mirrors: a location under the
    mirror the index was read from (`trust.url`) keeps its path below each of `trust.mirrors`.
    A location elsewhere (an index naming another host) has no alternates."""
    base = trust.url.rstrip("/")
    if not trust.mirrors or not base or not location.startswith(base + "/"):
        return ()
    below = location[len(base):]
    return tuple(mirror.rstrip("/") + below for mirror in trust.mirrors)


def trust_of(the_plan: Plan, pkg: Package) -> RepoTrust:
    """The trust of the repository `pkg` came from. A package of a repository the plan did
    not read (seeded from a base tarball) gets the strictest: verify, with no keys."""
    found = the_plan.trust.get(pkg.repo)
    return found if found is not None else RepoTrust(pkg.repo, "", verify=True)


def store_path(store: Path, pkg: Package, trust: RepoTrust) -> Path:
    """Where the store keeps `pkg` (module docstring)."""
    base = trust.url.rstrip("/") + "/"
    if trust.url and pkg.location.startswith(base):
        below = pkg.location[len(base):]
    else:
        parts = urlsplit(pkg.location)
        below = f"{parts.netloc or 'local'}/{parts.path.lstrip('/')}"
    return store / safe_name(pkg.repo or "packages") / _safe_path(below)


def safe_name(name: str) -> str:
    """`name` as one safe path component (no `/`, no leading dot, nothing but [A-Za-z0-9._-])."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".") or "_"


def _safe_path(path: str) -> Path:
    """A relative path with no `..`, empty or absolute parts: a lock cannot name a file
    outside the store."""
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    return Path(*[safe_name(p) for p in parts]) if parts else Path("_")
