"""The ordered phases of a build, with user hooks between them: the only module that knows
the whole flow.

    profile → index → resolve → fetch → unpack → [hook-extract] → configure →
    [hook-customize] → cleanup → pack

Each phase is timed and reported through `Reporter`. The root is built in a temporary directory
that is always removed (after making sure nothing is still mounted inside it); the output is
written under a temporary name and renamed by the packer, so a failed or interrupted build
leaves nothing at the output path.

The temporary directory (`.rootfs-bootstrap.XXXX`, mode 0700, in TMPDIR or beside a directory
output) holds the root as `root/` and is locked (flock) for the build's life. A build killed
outright (SIGKILL, a power cut) leaves it behind; the next build in the same place finds it
unlocked, detaches whatever is still mounted under it and removes it.
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bootstrap import config
from bootstrap.adapters import Adapter, Installed, get_adapter
from bootstrap.buildplan import BuildFacts, BuildOptions, Plan
from bootstrap.buildroot import build_root
from bootstrap.collector import paused
from bootstrap.epoch import build_epoch
from bootstrap.errors import (
    NO_SPACE_ERRNOS,
    ConfigError,
    NoSpaceError,
    RepositoryNotFound,
    UsageError,
)
from bootstrap.hooks import run_hooks
from bootstrap.machine import check_mode_early, choose_mode, oci_platform, personality
from bootstrap.payloads import fetch_and_unpack
from bootstrap.report import NO_METER, Reporter
from bootstrap.resolve.result import Resolution
from bootstrap.root import Root
from bootstrap.scrub import scrub
from bootstrap.space import check_space
from bootstrap.types import (
    Dependency,
    Fetcher,
    IndexStamp,
    Meter,
    Package,
    Profile,
    Relation,
    RepoTrust,
)

# `name`, `name>=version`, `name >= version` (spaces as spec files write them), `==` as `=`.
_REQUEST = re.compile(r"\s*([^\s<>=]+)\s*(?:(<=|>=|==|=|<|>)\s*([^\s<>=]+))?\s*")


def _split_request(text: str) -> Relation:
    """A request of --include / --buildrequires / a profile as a Relation; UsageError if it is
    not `name` or `name OP version`."""
    match = _REQUEST.fullmatch(text)
    if match is None:
        raise UsageError(f"cannot read the package request {text!r}",
                         hint="write NAME, NAME=VERSION or 'NAME >= VERSION'")
    name, op, version = match.groups()
    return Relation(name, "=" if op == "==" else op, version)


def _request_text(relation: Relation) -> str:
    """A request as users write it: `name`, or `name>=version` with no spaces."""
    return relation.name if relation.op is None else f"{relation.name}{relation.op}{relation.version}"


def load_profile(opts: BuildOptions) -> Profile:
    """The profile with the command line's overrides applied."""
    keyrings = tuple(str(Path(k).resolve()) for k in opts.keyrings)
    return config.load_profile(opts.profile, config.Overrides(
        arch=opts.arch, mirror=opts.mirror, alternate_mirrors=opts.alternate_mirrors,
        keyrings=keyrings, verify=opts.verify, components=opts.components, keyring_only=opts.keyring_only))


def make_adapter(profile: Profile, report: Reporter | None = None) -> Adapter:
    """The family's adapter, told which profile it serves (merged-/usr, sources to write)."""
    return get_adapter(profile.family, profile, report.info if report is not None else None)


def load_universe(profile: Profile, adapter: Adapter, fetcher: Fetcher, report: Reporter,
                  stamps: dict[str, IndexStamp] | None = None,
                  meter: Meter = NO_METER) -> tuple[list[Package], dict[str, RepoTrust]]:
    """Every package of every enabled repository (optional ones that do not exist are
    skipped), with the trust of each repository read, by id; the stamp of each index read
    goes into `stamps`. `meter` advances by one as each repository is done (read or
    skipped), its note naming the one being read."""
    universe: list[Package] = []
    trust: dict[str, RepoTrust] = {}
    for repo in profile.repositories:
        if not repo.verify:
            report.emit(f"W: not verifying the signature of repository {repo.id} ({repo.url}): --no-verify was given")
        meter.note(repo.id)
        try:
            found = adapter.load(repo, profile.arch, fetcher, report.info)
        except RepositoryNotFound:
            if not repo.optional:
                raise
            report.info(f"repository {repo.id} ({repo.url} {repo.suite}) is not on the mirror: skipped")
            meter.advance(1)
            continue
        meter.advance(1)
        report.debug(f"{repo.id}: {len(found.packages)} packages")
        universe.extend(one_numbering(universe, found.packages))
        trust[repo.id] = found.trust
        if stamps is not None and found.stamp is not None:
            stamps[repo.id] = found.stamp
    if not universe:
        raise ConfigError(f"no packages found in any repository of {profile.name}")
    return universe, trust


def one_numbering(earlier: Sequence[Package], added: Sequence[Package]) -> Sequence[Package]:
    """`added` (one more repository's packages) with `index_order` continuing the numbering
    of `earlier`, as one package cache numbers every index it reads in order: a name an
    earlier repository has keeps its number there, a new one comes after all of them.
    Unchanged when the family gives no numbers (index_order 0)."""
    if not earlier or not any(p.index_order for p in added):
        return added
    first: dict[str, int] = {}
    for pkg in earlier:
        first.setdefault(pkg.name, pkg.index_order)
    after = max(first.values(), default=0)
    return [_renumbered(p, first.get(p.name) or after + p.index_order) for p in added]


def _renumbered(pkg: Package, index_order: int) -> Package:
    """`pkg` with another index_order. A copy of its attributes, not dataclasses.replace:
    replace would read every field, and so the whole stanza of a lazily read package."""
    new = object.__new__(type(pkg))
    object.__setattr__(new, "__dict__", {**pkg.__dict__, "index_order": index_order})
    return new


def extra_requests(opts: BuildOptions, adapter: Adapter, report: Reporter | None = None) -> list[str]:
    """The requests the family reads from files the user named (--buildrequires specs).
    plan() calls it in the profile phase, so a bad spec fails before any download."""
    if not opts.buildrequires:
        return []
    log = report.info if report is not None else (lambda line: None)
    names = adapter.extra_requests(opts.buildrequires, opts.defines, log)
    if report is not None:
        report.info(f"buildrequires: {' '.join(n.replace(' ', '') for n in names)}")
    return names


def requested(opts: BuildOptions, profile: Profile, adapter: Adapter,
              universe: Sequence[Package], variant: str, fetcher: Fetcher,
              spec_names: Sequence[str] = ()) -> list[Dependency]:
    """The requests of a build: the variant's base set, the profile's names, --include, then
    --buildrequires (`spec_names`, from extra_requests), expanded by the family."""
    if variant not in profile.variants and variant != "custom":
        raise UsageError(f"profile {profile.name} has no variant {variant!r}",
                         hint=f"variants: {', '.join(profile.variants) or 'default'}")
    names: list[str] = []
    if variant != "custom":
        names += adapter.base_packages(universe, variant)
    names += profile.variants.get(variant, ())
    names += opts.include
    names += spec_names
    names = adapter.expand_requests(names, universe, fetcher)
    seen: set[str] = set()
    deps: list[Dependency] = []
    for name in names:
        if name and name not in seen:
            seen.add(name)
            relation = _split_request(name)
            if relation.name not in opts.exclude:  # by name: `--exclude gcc` drops `gcc >= 3.4` too
                deps.append((relation,))
    if not deps:
        raise UsageError("nothing to install", hint="--variant custom needs --include PKG,...")
    return deps


def plan(opts: BuildOptions, fetcher: Fetcher, report: Reporter, *,
         root: Root | None = None) -> Plan:
    """Profile, index and resolve phases. With `root`, an adapter that seeds the root from a
    base tarball (Alpine's minirootfs) does so, and what it installed counts as chosen."""
    with report.phase("profile", opts.profile):
        profile = load_profile(opts)
        adapter = make_adapter(profile, report)
        variant = opts.variant or profile.default_variant
        report.info(f"profile {profile.name}: {profile.family} {profile.release} {profile.arch}, variant {variant}")
        spec_names = extra_requests(opts, adapter, report)
    seeded: list[Installed] = []
    seed_item = None
    if root is not None and adapter.seeds(variant):
        # Alpine seeds from the minirootfs, only for the variants that start from it.
        with report.phase("seed", f"the base tarball of variant {variant}", unit=""):
            seed_item = adapter.seed_source(fetcher, report.info, variant)
            seeded = adapter.seed(fetcher, root, report.info, variant, seed_item)
    stamps: dict[str, IndexStamp] = {}
    with paused():  # a million small objects, none of them garbage (bootstrap.collector)
        trust, packages, result, requests = _index_and_resolve(
            opts, profile, adapter, variant, fetcher, report, spec_names, seeded, stamps)
    return Plan(profile, adapter, variant, packages, dict(result.reasons),
                tuple(result.warnings), seeded, trust, tuple(_request_text(d[0]) for d in requests),
                stamps, seed_item)


def _index_and_resolve(opts: BuildOptions, profile: Profile, adapter: Adapter, variant: str, fetcher: Fetcher,
                       report: Reporter, spec_names: Sequence[str], seeded: Sequence[Installed],
                       stamps: dict[str, IndexStamp]
                       ) -> tuple[dict[str, RepoTrust], list[Package], Resolution, list[Dependency]]:
    """The index and resolve phases of plan()."""
    from bootstrap.resolve import resolve

    repos = len(profile.repositories)
    with report.phase("index", f"{repos} repositories", total=repos, unit="repositories") as meter:
        universe, trust = load_universe(profile, adapter, fetcher, report, stamps, meter)
        report.info(f"index: {len(universe)} packages in {repos} repositories")
    with report.phase("resolve", f"{len(universe)} packages known", unit=""):
        requests = requested(opts, profile, adapter, universe, variant, fetcher, spec_names)
        # yum: file dependencies that primary's short file list cannot answer need filelists.
        universe = adapter.complete_universe(universe, [d[0].name for d in requests], fetcher,
                                             report.info)
        seeded_pkgs = [i.package for i in seeded]
        # --variant custom is an exact set: excluding what a dependency needs is an error
        # there, not debootstrap's drop-with-a-warning.
        result = resolve(list(universe) + seeded_pkgs, requests + [(Relation(p.name),) for p in seeded_pkgs],
                         adapter.version_scheme(profile.arch), exclude=opts.exclude,
                         strict_exclude=variant == "custom")
        have = {p.name for p in seeded_pkgs}
        packages = [p for p in result.packages if p.name not in have]
        for warning in result.warnings:
            report.emit(f"W: {warning}")
        report.info(f"resolve: {len(packages)} packages to install")
    return trust, packages, result, requests


def make_fetcher(opts: BuildOptions, report: Reporter) -> Fetcher:
    from bootstrap.fetch import Fetcher

    return Fetcher(opts.cache_dir, jobs=opts.jobs, progress=report.progress, log=report.debug,
                   notice=report.info, offline=opts.offline)


def resolve_only(opts: BuildOptions, report: Reporter) -> Plan:
    """`rootfs-bootstrap resolve`: what would be installed, downloading no package."""
    return plan(opts, make_fetcher(opts, report), report)


# How a build gets its plan: plan() by default; bootstrap.locked's plan_from_lock for a build
# from a lock file, which reads no index.
Planner = Callable[[BuildOptions, Fetcher, Reporter, Root], Plan]
# What a build does with its finished root instead of packing it to opts.output: an image
# build adds it to its layout (bootstrap.imagebuild). Called in the pack phase with the plan,
# what was installed, the root and the build's epoch; it writes its own SBOM.
Packer = Callable[[Plan, list[Installed], Root, int], None]


def build(opts: BuildOptions, report: Reporter, planner: Planner | None = None,
          packer: Packer | None = None, facts: BuildFacts | None = None) -> Path | None:
    """The whole build; returns the output path (None for stdout, or when `packer` took the
    root). `planner` makes the plan in the build root (default: the profile, index and resolve
    phases of plan()); `facts`, when given, is filled in with what the build did."""
    # Only a build packs: `resolve` does not load the packer (libarchive: 40 ms of start-up).
    from bootstrap import output

    if packer is None:
        output.check(opts.output, opts.fmt, opts.devices)  # fail now, not after the whole build
    check_mode_early(opts.mode)  # --mode root as a user fails before any index is read
    fetcher = make_fetcher(opts, report)
    out: Path | None = None
    parent = output.root_parent(opts.output, opts.fmt)
    try:
        with build_root(parent, report.info) as root:
            out, profile = _build_in(opts, fetcher, root, report, planner, packer, facts or BuildFacts())
    except KeyboardInterrupt:
        # Ctrl-C, SIGTERM or SIGHUP that arrived once the output was complete (while the root
        # was being removed): an interrupted build leaves nothing, as it says.
        if out is not None:
            output.discard(out)
        raise
    except OSError as err:
        if err.errno in NO_SPACE_ERRNOS:
            raise _root_full(parent, err) from None
        raise
    if opts.dockerfile and out is not None and opts.fmt == "tar":
        output.write_dockerfile(out, profile.command)
    return out


def _root_full(parent: Path | None, err: OSError) -> NoSpaceError:
    """A write into the build root found its file system full (the cache and the output say so
    themselves): where the root was, and what to free or move. The root is gone by now."""
    where = f"{parent}" if parent else f"{tempfile.gettempdir()} (TMPDIR)"
    hint = ("free space there, or write the directory output to a larger file system" if parent
            else "free space there, or set TMPDIR to a larger file system")
    shown = f" ({err.filename})" if err.filename else ""
    return NoSpaceError(f"no space left on device writing the build root in {where}{shown}", hint=hint)


def _build_in(opts: BuildOptions, fetcher: Fetcher, root: Root, report: Reporter,
              planner: Planner | None, packer: Packer | None, facts: BuildFacts) -> tuple[Path | None, Profile]:
    """Every phase from the profile to the packed output, in `root`: (output, profile)."""
    if planner is None:
        the_plan = plan(opts, fetcher, report, root=root)
    else:
        the_plan = planner(opts, fetcher, report, root)
    if opts.fmt in ("oci", "docker"):
        oci_platform(the_plan.profile.arch, the_plan.adapter)  # fail before any download
    mode = choose_mode(opts.mode, the_plan.profile.arch, the_plan.adapter, report)
    facts.mode = mode
    # Room for the root and the output, before the download (bootstrap.space).
    check_space(the_plan.packages, opts.output, opts.fmt, root.path,
                in_tmpdir=not (opts.fmt == "dir" or opts.output.endswith("/")))
    installed = fetch_and_unpack(the_plan, fetcher, root, report, opts.store)
    facts.packages = [i.package for i in installed]  # the seeded ones first
    run_hooks("extract", opts.hook_extract, root, report)
    # One date for everything the build writes (bootstrap.epoch): scripts see it too.
    epoch = facts.epoch = build_epoch(e for i in installed for e in i.manifest)
    _configure(the_plan, installed, root, mode, report, epoch)
    run_hooks("customize", opts.hook_customize, root, report)
    with report.phase("cleanup"):
        the_plan.adapter.cleanup(root)
        scrub(root)  # the family-neutral traces of the build host (bootstrap.scrub)
    if packer is not None:
        from bootstrap.pack import metered

        with report.phase("pack", f"the image of {the_plan.profile.arch}"), metered(report.progress, root.path):
            packer(the_plan, installed, root, epoch)
        return None, the_plan.profile
    from bootstrap.pack import describe

    with report.phase("pack", describe(opts.output, opts.fmt, opts.compress)):
        out = _pack(opts, the_plan, installed, root, report, epoch)
    if out is not None and opts.sbom_format != "none":
        from bootstrap import output
        from bootstrap.buildsbom import write_build_sbom

        try:
            facts.sbom = write_build_sbom(out, opts.sbom_format, the_plan.profile, the_plan.adapter.facts,
                                          installed, epoch, report)
        except BaseException:
            output.discard(out)  # an output without its SBOM is a half-written build
            raise
    return out, the_plan.profile


def _configure(the_plan: Plan, installed: list[Installed], root: Root, mode: str,
               report: Reporter, epoch: int) -> None:
    from bootstrap.sandbox import ChrootRunner

    adapter, arch = the_plan.adapter, the_plan.profile.arch
    target = the_plan.target()
    # Time only: the families configure in one command (dpkg --configure -a, rpm) or script
    # by script, and the hooks say neither.
    with report.phase("configure", f"{len(installed)} packages, mode {mode}", unit=""):
        adapter.register(root, installed, target)
        if mode == "extract":
            report.info("configure: mode extract, maintainer scripts not run")
            return
        with ChrootRunner(root.path, mode=mode, personality=personality(arch, adapter),
                          env={**adapter.facts.script_env, "SOURCE_DATE_EPOCH": str(epoch)},
                          log=report.debug) as runner:
            adapter.configure(root, installed, runner, target)


def _pack(opts: BuildOptions, the_plan: Plan, installed: list[Installed], root: Root,
          report: Reporter, epoch: int) -> Path | None:
    from bootstrap import output
    from bootstrap.pack import ImageConfig, metered

    image = None
    if opts.fmt == "oci":
        arch, variant = oci_platform(the_plan.profile.arch, the_plan.adapter)
        image = ImageConfig(arch=arch, variant=variant, cmd=the_plan.profile.command)
    # A directory output is a rename: no bytes to count, no walk to measure them.
    with metered(None if opts.fmt == "dir" else report.progress, root.path):
        return output.pack(root, installed, output=opts.output, fmt=opts.fmt, compress=opts.compress, epoch=epoch,
                           devices=opts.devices, image=image, report=report)
