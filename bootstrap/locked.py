"""Builds and lock files: the lock a plan makes, the plan a lock gives back, the store of
locked packages, and the SBOM every build writes beside its output.

Contracts:
- `lock_from_plan` records what `plan()` chose: the profile, the options that shaped it, every
  repository of the profile (an optional one the mirror lacked as absent) with the stamp and
  signers of its index, the seed tarball, every package as its index described it.
- `plan_from_lock` gives the Plan a build needs without reading any index: the locked packages
  (moved onto another mirror when the build says `--mirror`), each repository's trust from the
  lock and the keys of the profile as installed here (a `--keyring` recorded at lock time, or
  given to the build, is used again), and the root seeded from the locked tarball. Every
  payload is then held to the lock's digests by the fetcher, and to its own signature by the
  adapter's check_payload, exactly as in a resolving build. A lock of another profile, family
  or arch than the build's is a LockError.
- The store (`fetch --lock FILE --store DIR`) keeps each locked package at
  `DIR/<repository id>/<path below the repository's URL>` and the seed at `DIR/seed/<name>`;
  a build given `--store DIR` takes the copy there first, verified as any download.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from bootstrap.adapters import Installed
from bootstrap.buildplan import BuildFacts
from bootstrap.errors import LockError, UsageError
from bootstrap.lock import Lock, LockedRepo, LockedSeed, LockOptions
from bootstrap.payloads import fetch_item, safe_name, store_path
from bootstrap.pipeline import BuildOptions, Packer, Plan, load_profile, make_adapter
from bootstrap.report import Reporter
from bootstrap.root import Root
from bootstrap.types import Fetcher, FetchItem, Package, Profile, RepoTrust

SEED_DIR = "seed"


def lock_from_plan(the_plan: Plan, opts: BuildOptions) -> Lock:
    """The lock of `the_plan`, made with `opts` (see the module docstring)."""
    profile = the_plan.profile
    repos = []
    for repo in profile.repositories:
        trust = the_plan.trust.get(repo.id)
        if trust is None:
            repos.append(LockedRepo(repo.id, repo.url, repo.suite, repo.components, present=False))
            continue
        repos.append(LockedRepo(repo.id, trust.url, repo.suite, repo.components, True,
                                the_plan.stamps.get(repo.id), trust.verify, trust.signers,
                                tuple(k for k in opts.keyrings), trust.mirrors))
    seed = the_plan.seed_item
    options = LockOptions(the_plan.variant, opts.include, opts.exclude,
                          tuple(str(Path(b).resolve()) for b in opts.buildrequires), opts.defines,
                          tuple(m for m in (opts.mirror, *opts.alternate_mirrors) if m),
                          tuple(str(Path(k).resolve()) for k in opts.keyrings), opts.verify,
                          opts.keyring_only)
    return Lock(profile.name, profile.family, profile.vendor, profile.release, profile.arch, options,
                tuple(repos), tuple(sorted(the_plan.packages, key=lambda p: (p.name, p.arch, p.version))),
                the_plan.requests,
                None if seed is None else LockedSeed(seed.url, seed.checksums, seed.size, seed.name))


def options_of(lock: Lock, **build: object) -> BuildOptions:
    """The BuildOptions that resolve as `lock` was resolved; `build` adds what the output
    needs (output, fmt, mode...) and may override `mirror`, `alternate_mirrors`, `keyrings`
    and `keyring_only`. Keys go together: `build` giving keyrings (or keyring_only=True)
    decides keyring_only too (False unless it says True); otherwise the lock's stands."""
    o = lock.options
    mirrors = o.mirrors
    base: dict[str, object] = {
        "profile": lock.profile, "include": o.include, "exclude": o.exclude, "variant": o.variant,
        "arch": lock.arch, "mirror": mirrors[0] if mirrors else None, "alternate_mirrors": mirrors[1:],
        "keyrings": o.keyrings, "keyring_only": o.keyring_only, "verify": o.verify,
        "buildrequires": o.buildrequires, "defines": o.defines}
    only = build.pop("keyring_only", None)
    base.update({k: v for k, v in build.items() if v is not None})
    if only or build.get("keyrings"):
        base["keyring_only"] = bool(only)
    return BuildOptions(**base)  # type: ignore[arg-type]


def check_fits(lock: Lock, opts: BuildOptions, source: str) -> None:
    """A build from `lock` takes no option that shapes a resolution: those are the lock's."""
    given = [name for name, value in (("--include", opts.include), ("--exclude", opts.exclude),
                                      ("--variant", opts.variant), ("--buildrequires", opts.buildrequires),
                                      ("--define", opts.defines)) if value]
    if given:
        raise UsageError(f"{', '.join(given)} cannot change a build from a lock: {source} fixes the packages",
                         hint="write a new lock with `rootfs-bootstrap lock`, or refresh it")
    if opts.arch and opts.arch != lock.arch:
        raise LockError(f"{source} is for {lock.arch}, not {opts.arch}", hint="lock each architecture apart")


def build_from_lock(lock: Lock, opts: BuildOptions, report: Reporter, packer: Packer | None = None,
                    facts: BuildFacts | None = None) -> Path | None:
    """The build of exactly `lock`'s packages (pipeline.build with plan_from_lock; `packer`
    and `facts` as there)."""
    from bootstrap.pipeline import build

    return build(opts, report, lambda o, fetcher, rep, root: plan_from_lock(lock, o, fetcher, rep, root), packer,
                 facts)


def plan_from_lock(lock: Lock, opts: BuildOptions, fetcher: Fetcher, report: Reporter, root: Root) -> Plan:
    """The plan of a build from `lock` (module docstring); the root is seeded when the lock
    has a seed."""
    with report.phase("profile", f"{opts.profile} from a lock"):
        profile = load_profile(_as_locked(lock, opts))
        if profile.name != lock.profile or profile.family != lock.family:
            raise LockError(f"the lock is for {lock.profile} ({lock.family}), not {profile.name}",
                            hint=f"build it as `rootfs-bootstrap build {lock.profile} --lock FILE`")
        adapter = make_adapter(profile, report)
        report.info(f"profile {profile.name} from a lock: {len(lock.packages)} packages, "
                    f"{profile.family} {profile.release} {profile.arch}, variant {lock.options.variant}")
        trust = {r.id: _trust(r, profile, fetcher) for r in lock.repositories if r.present}
    seeded: list[Installed] = []
    seed_item = None
    if lock.seed is not None:
        with report.phase("seed", "the locked base tarball", unit=""):
            seed_item = _seed_item(lock.seed, opts.store)
            seeded = adapter.seed(fetcher, root, report.info, lock.options.variant, seed_item)
    packages = _moved(lock, profile)
    return Plan(profile, adapter, lock.options.variant, packages, {}, (), seeded, trust, lock.requests,
                {r.id: r.index for r in lock.repositories if r.index is not None}, seed_item)


def _as_locked(lock: Lock, opts: BuildOptions) -> BuildOptions:
    """The build's options with what it does not say taken from the lock: its arch, its
    mirrors and keyrings (the build's --mirror / --keyring win, and with its keyrings its
    --keyring-only), its verification."""
    mirrors = (opts.mirror, *opts.alternate_mirrors) if opts.mirror else lock.options.mirrors
    own_keys = bool(opts.keyrings)
    return replace(opts, arch=lock.arch, mirror=mirrors[0] if mirrors else None, alternate_mirrors=tuple(mirrors[1:]),
                   keyrings=opts.keyrings if own_keys else lock.options.keyrings,
                   keyring_only=opts.keyring_only if own_keys else opts.keyring_only or lock.options.keyring_only,
                   verify=lock.options.verify and opts.verify)


def _trust(locked: LockedRepo, profile: Profile, fetcher: Fetcher) -> RepoTrust:
    """A locked repository's trust: as the lock recorded it, with this installation's copy of
    the profile's keys (and any --keyring) to check package signatures against."""
    repo = next((r for r in profile.repositories if r.id == locked.id), None)
    if repo is None:
        raise LockError(f"the lock names repository {locked.id}, which profile {profile.name} no longer has",
                        hint="refresh the lock, or use the release of rootfs-bootstrap that wrote it")
    keys: list[str] = []
    for key in repo.keyrings:
        if "://" in key:  # yum's gpgkey= URLs: fetched as the index phase would
            keys.append(str(fetcher.get_file(FetchItem(key, name=f"key of {repo.id}"))))
        else:
            keys.append(key)
    return RepoTrust(locked.id, locked.url, locked.verify, tuple(keys), locked.signers, locked.mirrors)


def _moved(lock: Lock, profile: Profile) -> list[Package]:
    """The locked packages on the mirror the build names: a location below its repository's
    locked URL keeps its path below that repository's URL now."""
    now = {r.id: r.url for r in profile.repositories}
    moved = []
    for pkg in lock.packages:
        locked = lock.repository(pkg.repo)
        old, new = (locked.url.rstrip("/") + "/") if locked else "", now.get(pkg.repo, "").rstrip("/") + "/"
        if locked and new not in ("/", old) and pkg.location.startswith(old):
            pkg = replace(pkg, location=new + pkg.location[len(old):])
        moved.append(pkg)
    return moved


def _seed_item(seed: LockedSeed, store: Path | None) -> FetchItem:
    item = FetchItem(seed.url, seed.checksums, seed.size, seed.name or "the seed tarball")
    if store is not None:
        kept = store / SEED_DIR / safe_name(seed.name or Path(urlsplit(seed.url).path).name)
        if kept.is_file():
            return replace(item, url=kept.resolve().as_uri(), alternates=(seed.url,))
    return item


def fill_store(lock: Lock, store: Path, fetcher: Fetcher, report: Reporter) -> int:
    """Copy every locked package (and the seed) into `store`, each verified against the lock
    (and, for packages, checked by the family as a build checks it); returns how many files."""
    profile = load_profile(options_of(lock))
    adapter = make_adapter(profile, report)
    trust = {r.id: _trust(r, profile, fetcher) for r in lock.repositories if r.present}
    plan = Plan(profile, adapter, lock.options.variant, list(lock.packages), trust=trust)

    items = [fetch_item(plan, p) for p in lock.packages]
    paths = fetcher.get_many(items)
    count = 0
    for pkg, path in zip(lock.packages, paths, strict=True):
        pkg_trust = trust.get(pkg.repo, RepoTrust(pkg.repo, "", verify=True))
        adapter.check_payload(pkg, path, pkg_trust)
        _copy(path, store_path(store, pkg, pkg_trust))
        count += 1
    if lock.seed is not None:
        seed_path = fetcher.get_file(_seed_item(lock.seed, None))
        _copy(seed_path, store / SEED_DIR / safe_name(lock.seed.name or Path(urlsplit(lock.seed.url).path).name))
        count += 1
    return count


def _copy(source: Path, target: Path) -> None:
    """`source` at `target`, atomically (a temporary file beside it, renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_lock(opts: BuildOptions, path: Path, report: Reporter) -> Lock:
    """`rootfs-bootstrap lock`: resolve as a build with `opts` would (seeding a throwaway
    root where the family starts from a tarball) and write the lock at `path`."""
    from bootstrap.buildroot import build_root
    from bootstrap.lock import write_lock
    from bootstrap.pipeline import make_fetcher, plan

    if not Path(path).parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {Path(path).parent} does not exist")
    fetcher = make_fetcher(opts, report)
    with build_root(None, report.info) as root:
        the_plan = plan(opts, fetcher, report, root=root)
    lock = lock_from_plan(the_plan, opts)
    write_lock(path, lock)
    return lock


def store_lock(path: Path, store: Path, report: Reporter, *, cache_dir: Path | None = None,
               jobs: int = 4, offline: bool = False) -> int:
    """`rootfs-bootstrap fetch --lock FILE --store DIR`: fill_store for the lock at `path`."""
    from bootstrap.lock import read_lock
    from bootstrap.pipeline import make_fetcher

    lock = read_lock(path)
    opts = options_of(lock, cache_dir=cache_dir, jobs=jobs, offline=offline)
    return fill_store(lock, Path(store), make_fetcher(opts, report), report)
