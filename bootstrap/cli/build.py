"""`build` and `lock`: the commands that resolve a profile (or read a lock) and make
something of it."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from bootstrap.cli.app import ARGV, cli, guard, reporter
from bootstrap.cli.options import build_options, common_options, output_options, selection


@cli.command()
@common_options
@output_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Install exactly the packages of this lock file (from `rootfs-bootstrap lock`); resolve nothing.")
@click.option("--hook-extract", multiple=True, help="Command run after unpacking, with the root as $1.")
@click.option("--hook-customize", multiple=True, help="Command run after configuring, with the root as $1.")
@click.option("--dockerfile", is_flag=True, help="Write a FROM scratch / ADD / CMD Dockerfile beside the tarball.")
@click.option("--devices", is_flag=True, help="With --format dir, as root: create the device nodes packages ship.")
@click.option("--dry-run", is_flag=True, help="Resolve (or read the lock) and say what would be installed and "
                                              "written; download and build nothing.")
@click.option("--print-uris", is_flag=True, help="Print what would be fetched ('URL' FILE SIZE DIGEST, as apt-get's "
                                                 "--print-uris) and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on standard output: the packages "
                                                      "(versions, arches, URLs, sizes, digests), outputs and digests.")
def build(**kw: Any) -> None:
    """Build PROFILE into the output (default: ./PROFILE.tar.gz)."""
    from bootstrap.pipeline import BuildOptions

    fields = {**selection(kw), **build_options(kw)}  # build's --cache-dir and --jobs, once
    opts = BuildOptions(**fields, hook_extract=kw["hook_extract"], hook_customize=kw["hook_customize"],
                        dockerfile=kw["dockerfile"], devices=kw["devices"])
    if kw["output"] == "-" and kw["as_json"]:
        raise click.UsageError("--json prints on standard output: it cannot go with -o -")
    report = reporter(kw, progress=not (kw["dry_run"] or kw["print_uris"]))
    start = time.monotonic()
    lock = guard(lambda: _lock_for(kw["lock_file"], opts), kw["verbose"])
    if kw["dry_run"] or kw["print_uris"]:
        _would_build(opts, lock, report, kw)
        return
    # Written once: the default output is named on the command line of a build run again.
    in_namespace(kw, opts.mode, opts.output, opts.fmt, report,
                 [] if kw["output"] or not opts.output else ["-o", opts.output])
    from bootstrap.buildplan import BuildFacts
    from bootstrap.summary import build_json, describe_output, summary_line

    facts = BuildFacts()
    where, outputs, extra = guard(lambda: _run_build(opts, lock, report, facts), kw["verbose"])
    infos = [describe_output(p) for p in outputs]
    seconds = time.monotonic() - start
    if kw["as_json"]:
        click.echo(build_json(opts.profile, infos, facts, seconds, extra), nl=False)
    report.info(summary_line(where, infos[0] if infos else None, facts, seconds, extra))


def in_namespace(kw: dict[str, Any], mode: str, output: str, fmt: str, report: Any,
                 more: list[str] | None = None) -> None:
    """Mode unshare (asked, or auto's choice) without the namespace yet: run this command
    line (and `more` words) again inside the build's user namespace (bootstrap.rootless) and
    exit with its status. Returns when the build runs here."""
    from bootstrap import rootless

    said = guard(lambda: rootless.namespace_needed(mode), kw["verbose"])
    if said is None:
        return
    words = [*click.get_current_context().meta.get(ARGV, sys.argv[1:]), *(more or [])]
    sys.exit(guard(lambda: rootless.run_inside(said, rootless.root_parents(output, fmt), report.info, words),
                   kw["verbose"]))


def _lock_for(path: Path | None, opts: Any) -> Any:
    """The lock a build is given (checked to fit the build), or None."""
    if path is None:
        return None
    from bootstrap.lock import read_lock
    from bootstrap.locked import check_fits

    lock = read_lock(path)
    check_fits(lock, opts, str(path))
    return lock


def _run_build(opts: Any, lock: Any, report: Any, facts: Any) -> tuple[str, list[Path], dict[str, str]]:
    """The build itself: (where it went, the outputs written, more to say: the pushed image)."""
    from bootstrap.imagebuild import build_image, is_image_build

    if is_image_build(opts):
        image = build_image(opts, report, None if lock is None else {lock.arch: lock}, facts)
        outputs = [image.output] if image.output is not None else []
        extra = {"pushed": image.pushed} if image.pushed else {}
        return str(image.output or image.pushed), outputs, extra
    if lock is None:
        from bootstrap.pipeline import build as run_build

        out = run_build(opts, report, facts=facts)
    else:
        from bootstrap.locked import build_from_lock

        out = build_from_lock(lock, opts, report, facts=facts)
    return (str(out) if out is not None else "standard output"), [out] if out is not None else [], {}


def _would_build(opts: Any, lock: Any, report: Any, kw: dict[str, Any]) -> None:
    """--dry-run and --print-uris: what the build would install and fetch."""
    from bootstrap.summary import plan_json, print_uris

    if lock is not None:
        packages, profile, arch, variant = list(lock.packages), lock.profile, lock.arch, lock.options.variant
    else:
        from bootstrap.pipeline import resolve_only

        the_plan = guard(lambda: resolve_only(opts, report), kw["verbose"])
        packages, profile = the_plan.packages, the_plan.profile.name
        arch, variant = the_plan.profile.arch, the_plan.variant
    if kw["print_uris"]:
        for line in print_uris(packages):
            click.echo(line)
    elif kw["as_json"]:
        click.echo(plan_json(profile, arch, variant, packages), nl=False)
    else:
        for pkg in sorted(packages, key=lambda p: p.name):
            click.echo(f"{pkg.name} {pkg.version} {pkg.arch}")
        size = sum(p.size for p in packages) / (1 << 20)
        where = opts.output or opts.image.push
        report.info(f"dry run: would install {len(packages)} packages ({size:.1f} MiB to fetch) and write {where}")


@cli.command("lock")
@common_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The lock file to write (NAME.lock).")
def lock_cmd(**kw: Any) -> None:
    """Resolve PROFILE and write the lock file; downloads no package.

    The lock records the profile and every option that shaped the resolution, each
    repository with the digest and date of its signed index and the keys that verified it,
    and every package with its URL, size and digests. `build PROFILE --lock FILE` installs
    exactly those; `refresh FILE` resolves again."""
    from bootstrap.locked import make_lock
    from bootstrap.pipeline import BuildOptions

    opts = BuildOptions(**selection(kw))
    report = reporter(kw, progress=False)
    lock = guard(lambda: make_lock(opts, kw["output"], report), kw["verbose"])
    report.info(f"wrote {kw['output']}: {len(lock.packages)} packages of {lock.profile} ({lock.arch})")
