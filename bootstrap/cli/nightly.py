"""`refresh` and `fetch`: the nightly commands around a lock file or a published image."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bootstrap.cli.app import cli, guard, reporter
from bootstrap.cli.build import in_namespace
from bootstrap.cli.options import build_options, mirrors, output_options


@cli.command("refresh")
@click.argument("lock_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@output_options
@click.option("--from", "from_ref", metavar="REGISTRY/REPO:TAG",
              help="Read the lock from this published image instead of LOCK_FILE; push there (or to --push) "
                   "only when something changed.")
@click.option("--report", "report_json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the change report as JSON here (when something changed).")
@click.option("--report-md", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the change report as Markdown here (when something changed).")
@click.option("--mirror", multiple=True, help="Resolve against this mirror instead of the lock's (repeatable).")
@click.option("--keyring", "keyrings", multiple=True, type=click.Path(exists=True),
              help="Trust these keys (a file or a directory of them; repeatable) instead of the --keyring ones "
                   "the lock recorded; the shipped keys stay.")
@click.option("--keyring-only", is_flag=True, default=None,
              help="Trust only the --keyring keys given here.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Download cache shared by runs.")
@click.option("--jobs", "-j", default=4, show_default=True, type=click.IntRange(1, 64), help="Parallel downloads.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors (and the change report).")
@click.option("-v", "--verbose", is_flag=True, help="Say more; tracebacks for internal errors.")
def refresh_cmd(**kw: Any) -> None:
    """Resolve LOCK_FILE's profile again (or the lock a published image carries, with
    --from); build, and rewrite the lock or push the image, only if something changed.

    \b
    Exit codes:
      0   nothing changed: nothing built, the lock left as it is, nothing pushed
          (one line says so)
      10  something changed: the image built at -o (and pushed with --push or
          --from), the lock rewritten (or pushed with the image), the change
          report printed (and written with --report / --report-md)
      1-9, 130  failure, as for build (the old lock untouched, nothing at -o)
    """
    from bootstrap.refresh import EXIT_CHANGED, refresh

    if (kw["lock_file"] is None) == (kw["from_ref"] is None):
        raise click.UsageError("give LOCK_FILE or --from REGISTRY/REPO:TAG (one of them)")
    given = mirrors(kw["mirror"]) if kw["mirror"] else {}
    keyrings: dict[str, Any] = {"keyrings": tuple(str(Path(k).resolve()) for k in kw["keyrings"])} \
        if kw["keyrings"] else {}
    if kw["keyring_only"]:
        keyrings["keyring_only"] = True
    report = reporter(kw)
    in_namespace(kw, kw["mode"], kw["output"] or "", kw["fmt"] or "", report)
    if kw["from_ref"] is not None:
        from bootstrap.publish import refresh_from

        push = kw["push"]
        kw["push"] = push or kw["from_ref"]  # -o is optional: the image goes back to the registry
        build = build_options(kw, **given, **keyrings)
        done = guard(lambda: refresh_from(kw["from_ref"], build, report, push=push, report_json_path=kw["report_json"],
                                           report_md_path=kw["report_md"]), kw["verbose"])
    else:
        build = build_options(kw, **given, **keyrings)
        done = guard(lambda: refresh(kw["lock_file"], build, report, report_json_path=kw["report_json"],
                                      report_md_path=kw["report_md"]), kw["verbose"])
    click.echo(done.line, err=True)
    if not done.changed:
        return
    click.echo(done.printed(), nl=False)
    sys.exit(EXIT_CHANGED)


@cli.command("fetch")
@click.option("--lock", "lock_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The lock whose packages to fetch.")
@click.option("--store", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The directory to copy them into (a later `build --lock FILE --store DIR` builds from it).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Download cache shared by runs.")
@click.option("--jobs", "-j", default=4, show_default=True, type=click.IntRange(1, 64), help="Parallel downloads.")
@click.option("--offline", is_flag=True, help="From the cache only.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Say more; tracebacks for internal errors.")
def fetch_cmd(**kw: Any) -> None:
    """Copy every package of a lock (and its seed tarball) into a store directory, each
    verified against the lock: mirrors forget old packages, the store does not."""
    from bootstrap.locked import store_lock

    report = reporter(kw)
    count = guard(lambda: store_lock(kw["lock_file"], kw["store"], report, cache_dir=kw["cache_dir"],
                                      jobs=kw["jobs"], offline=kw["offline"]), kw["verbose"])
    report.info(f"stored {count} files in {kw['store']}")
