"""The command line: `rootfs-bootstrap PROFILE [options]`, `list`, `resolve`.

The only module that imports click and the only place that exits: every BootstrapError becomes
`error: <message>` (+ `hint: ...`) on stderr and its exit code, with no traceback.
"""
from __future__ import annotations

import errno
import json
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bootstrap import __version__
from bootstrap.errors import BootstrapError, Interrupted
from bootstrap.signals import Stopped, note_stop

COMMANDS = ("build", "fetch", "list", "lock", "refresh", "resolve")
# The signals that end a build as Ctrl-C does (CI cancelling, `timeout`, a closed terminal),
# with the words said for each.
STOP_SIGNALS = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def _install_stop_handlers() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise Stopped once; a second one while the cleanup runs is ignored
    (an interrupted cleanup is what would leave mounts and a build root behind). Returns the
    handlers they replaced."""
    fired: list[int] = []
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        if fired:
            return
        fired.append(signum)
        note_stop(signum)
        raise Stopped(signum)

    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup: the user asked for this signal to be ignored
        previous[signum] = signal.signal(signum, handler)
    return previous


def _csv(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """--include a,b --include c → (a, b, c)."""
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def _mirrors(given: tuple[str, ...]) -> dict[str, Any]:
    """--mirror A --mirror B: A is the mirror, B an alternate tried when A fails."""
    return {"mirror": given[0] if given else None, "alternate_mirrors": tuple(given[1:])}


class _DefaultToBuild(click.Group):
    """`rootfs-bootstrap debian-bookworm ...` means `rootfs-bootstrap build debian-bookworm ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["build"] + args
        return super().parse_args(ctx, args)


def _emitter(quiet: bool) -> Callable[[str], None]:
    def emit(line: str) -> None:
        if not quiet or line.startswith(("W:", "E:")):
            click.echo(line, err=True)
    return emit


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by build and resolve (what selects the packages)."""
    options = [
        click.argument("profile"),
        click.option("--include", multiple=True, callback=_csv, help="Extra packages (comma-separated; repeatable)."),
        click.option("--exclude", multiple=True, callback=_csv, help="Packages never to install."),
        click.option("--buildrequires", "buildrequires", multiple=True, metavar="FILE.spec",
                     type=click.Path(),
                     help="Also install the BuildRequires of this rpm spec file, for the target release "
                          "(a build root, as mock gives; repeatable)."),
        click.option("--define", "defines", multiple=True, metavar="'MACRO VALUE'",
                     help="Define an rpm macro for --buildrequires specs, as rpmbuild --define (repeatable)."),
        click.option("--variant", help="minbase, buildd, default, custom... (`list` shows each profile's)."),
        click.option("--arch", help="Target architecture in the distribution's words (amd64, i386, x86_64...)."),
        click.option("--mirror", multiple=True,
                     help="Root of the distribution's mirror; its layout is kept. Given again: other "
                          "mirrors of the same archive, tried in order when one fails."),
        click.option("--keyring", "keyrings", multiple=True, type=click.Path(exists=True, dir_okay=False),
                     help="Trust these keys instead of the shipped ones (repeatable)."),
        click.option("--no-verify", is_flag=True, help="Do not check index signatures (printed as a warning)."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Download cache shared by runs."),
        click.option("--jobs", "-j", default=4, show_default=True, type=click.IntRange(1, 64),
                     help="Parallel downloads."),
        click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors."),
        click.option("-v", "--verbose", is_flag=True, help="Say more; tracebacks for internal errors."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(cls=_DefaultToBuild, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rootfs-bootstrap")
def cli() -> None:
    """Build a Linux root filesystem from a distribution's package mirror.

    \b
    rootfs-bootstrap debian-bookworm -o bookworm.tar.gz
    rootfs-bootstrap centos4.3 --include gcc-c++,bash -o centos4.3.tar.xz
    rootfs-bootstrap list
    """


def _words(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """--cmd '/bin/sh -c "echo hi"' (shell words) or --cmd '["/bin/sh", "-c", "echo hi"]' (JSON)."""
    if value is None:
        return None
    if value.lstrip().startswith("["):
        try:
            words = json.loads(value)
        except ValueError as err:
            raise click.BadParameter(f"not a JSON list of strings: {err}") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise click.BadParameter("not a JSON list of strings")
        return tuple(words)
    try:
        return tuple(shlex.split(value))
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _pairs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """KEY=VALUE options: refused without the `=`."""
    for item in value:
        if "=" not in item or item.startswith("="):
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
    return value


def _output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the commands that build an image (build, refresh)."""
    options = [
        click.option("-o", "--output",
                     help="FILE.tar[.gz|.xz|.zst], DIR/ for a directory, - for stdout; an OCI layout DIR or "
                          "FILE.tar with --format oci, FILE.tar with --format docker."),
        click.option("--format", "fmt", type=click.Choice(["tar", "dir", "oci", "docker"]),
                     help="Output kind (default from -o; oci with --push or several --platform): oci is an "
                          "image layout (an oci-archive when -o ends in .tar), docker a docker-archive "
                          "(docker load / podman load)."),
        click.option("--compress", type=click.Choice(["auto", "none", "gzip", "xz", "zstd", "bzip2"]), default="auto",
                     show_default=True, help="Tar compression (auto: from the output name; gzip otherwise)."),
        click.option("--mode", type=click.Choice(["auto", "root", "unshare", "extract"]), default="auto",
                     show_default=True,
                     help="root: chroot + maintainer scripts; unshare: same without root; extract: no scripts."),
        click.option("--sbom-format", type=click.Choice(["spdx", "cyclonedx", "none"]), default="spdx",
                     show_default=True,
                     help="The SBOM written beside the output: SPDX 2.3 JSON (OUT.spdx.json) or CycloneDX 1.5 "
                          "JSON (OUT.cdx.json); images also carry it as an attachment."),
        click.option("--offline", is_flag=True,
                     help="Touch no network: packages from the cache, the --store and file:// mirrors only."),
        click.option("--store", type=click.Path(file_okay=False, path_type=Path),
                     help="A directory of locked packages (written by `fetch --lock FILE --store DIR`), "
                          "used before the mirror."),
        click.option("--cmd", callback=_words, help="Image: the default command (shell words or a JSON list; "
                                                    "default: the profile's)."),
        click.option("--entrypoint", callback=_words, help="Image: the entrypoint (shell words or a JSON list)."),
        click.option("--env", multiple=True, callback=_pairs, metavar="KEY=VALUE",
                     help="Image: an environment variable (repeatable; PATH is set by default)."),
        click.option("--workdir", default="", help="Image: the working directory."),
        click.option("--user", default="", help="Image: the user (NAME, UID or UID:GID)."),
        click.option("--label", "labels", multiple=True, callback=_pairs, metavar="KEY=VALUE",
                     help="Image: a config label (repeatable)."),
        click.option("--tag", "tags", multiple=True, metavar="NAME:TAG", help="Image: a tag (repeatable)."),
        click.option("--source", default="", help="Image: org.opencontainers.image.source (the recipe's URL)."),
        click.option("--revision", default="", help="Image: org.opencontainers.image.revision."),
        click.option("--layers", default=1, show_default=True, type=click.IntRange(1, 127),
                     help="Image: split the root into up to N layers by package, largest first."),
        click.option("--platform", "platforms", multiple=True, callback=_csv, metavar="ARCH,...",
                     help="Image: one image per architecture (the family's words: amd64,arm64,386 or "
                          "x86_64,aarch64) in one image index."),
        click.option("--push", default="", metavar="REGISTRY/REPO:TAG",
                     help="Push the image (and its lock and SBOM) to this registry reference."),
        click.option("--insecure-registry", is_flag=True,
                     help="Let the registry be plain HTTP or have a certificate that does not verify."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _image_options(kw: dict[str, Any]) -> Any:
    from bootstrap.buildplan import ImageOptions

    return ImageOptions(cmd=kw["cmd"], entrypoint=kw["entrypoint"] or (), env=kw["env"], workdir=kw["workdir"],
                        user=kw["user"], labels=tuple(tuple(x.split("=", 1)) for x in kw["labels"]),
                        tags=kw["tags"], source=kw["source"], revision=kw["revision"], layers=kw["layers"],
                        platforms=kw["platforms"], push=kw["push"], insecure_registry=kw["insecure_registry"])


def _build_options(kw: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The BuildOptions fields the output options give."""
    output = kw["output"] or ""
    if not output and not kw["push"]:
        raise click.UsageError("Missing option '-o' / '--output' (or --push REF).")
    image = kw["push"] or kw["platforms"]
    fmt = kw["fmt"] or ("oci" if image else "dir" if output.endswith("/") else "tar")
    return {"output": output, "fmt": fmt, "compress": kw["compress"], "mode": kw["mode"],
            "cache_dir": kw["cache_dir"], "jobs": kw["jobs"], "offline": kw["offline"], "store": kw["store"],
            "sbom_format": kw["sbom_format"], "image": _image_options(kw), **more}


def _reporter(kw: dict[str, Any], progress: bool = True) -> Any:
    from bootstrap.progress import terminal_progress
    from bootstrap.report import Reporter

    return Reporter(_emitter(kw["quiet"]), verbose=kw["verbose"],
                    progress=None if kw["quiet"] or not progress else terminal_progress())


@cli.command()
@_common
@_output_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Install exactly the packages of this lock file (from `rootfs-bootstrap lock`); resolve nothing.")
@click.option("--hook-extract", multiple=True, help="Command run after unpacking, with the root as $1.")
@click.option("--hook-customize", multiple=True, help="Command run after configuring, with the root as $1.")
@click.option("--dockerfile", is_flag=True, help="Write a FROM scratch / ADD / CMD Dockerfile beside the tarball.")
@click.option("--devices", is_flag=True, help="With --format dir, as root: create the device nodes packages ship.")
def build(**kw: Any) -> None:
    """Build PROFILE into the output."""
    from bootstrap.pipeline import BuildOptions
    from bootstrap.pipeline import build as run_build

    opts = BuildOptions(
        profile=kw["profile"], include=kw["include"], exclude=kw["exclude"],
        variant=kw["variant"], arch=kw["arch"], **_mirrors(kw["mirror"]), keyrings=kw["keyrings"],
        verify=not kw["no_verify"], hook_extract=kw["hook_extract"],
        hook_customize=kw["hook_customize"], dockerfile=kw["dockerfile"],
        buildrequires=kw["buildrequires"], defines=kw["defines"], devices=kw["devices"], **_build_options(kw))
    report = _reporter(kw)

    def run() -> str:
        from bootstrap.imagebuild import build_image, is_image_build

        lock = None
        if kw["lock_file"] is not None:
            from bootstrap.lock import read_lock
            from bootstrap.locked import check_fits

            lock = read_lock(kw["lock_file"])
            check_fits(lock, opts, str(kw["lock_file"]))
        if is_image_build(opts):
            image = build_image(opts, report, None if lock is None else {lock.arch: lock})
            return " and ".join(str(x) for x in (image.output, image.pushed) if x is not None)
        if lock is None:
            out = run_build(opts, report)
        else:
            from bootstrap.locked import build_from_lock

            out = build_from_lock(lock, opts, report)
        return str(out) if out is not None else "standard output"

    report.info(f"wrote {_guard(run, kw['verbose'])}")


@cli.command("lock")
@_common
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

    opts = BuildOptions(profile=kw["profile"], include=kw["include"], exclude=kw["exclude"],
                        variant=kw["variant"], arch=kw["arch"], **_mirrors(kw["mirror"]),
                        keyrings=kw["keyrings"], verify=not kw["no_verify"], cache_dir=kw["cache_dir"],
                        jobs=kw["jobs"], buildrequires=kw["buildrequires"], defines=kw["defines"])
    report = _reporter(kw, progress=False)
    lock = _guard(lambda: make_lock(opts, kw["output"], report), kw["verbose"])
    report.info(f"wrote {kw['output']}: {len(lock.packages)} packages of {lock.profile} ({lock.arch})")


@cli.command("refresh")
@click.argument("lock_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_output_options
@click.option("--from", "from_ref", metavar="REGISTRY/REPO:TAG",
              help="Read the lock from this published image instead of LOCK_FILE; push there (or to --push) "
                   "only when something changed.")
@click.option("--report", "report_json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the change report as JSON here (when something changed).")
@click.option("--report-md", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the change report as Markdown here (when something changed).")
@click.option("--mirror", multiple=True, help="Resolve against this mirror instead of the lock's (repeatable).")
@click.option("--keyring", "keyrings", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Trust these keys instead of those the lock recorded (repeatable).")
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
    mirrors = _mirrors(kw["mirror"]) if kw["mirror"] else {}
    keyrings = {"keyrings": tuple(str(Path(k).resolve()) for k in kw["keyrings"])} if kw["keyrings"] else {}
    report = _reporter(kw)
    if kw["from_ref"] is not None:
        from bootstrap.publish import refresh_from

        push = kw["push"]
        kw["push"] = push or kw["from_ref"]  # -o is optional: the image goes back to the registry
        build = _build_options(kw, **mirrors, **keyrings)
        done = _guard(lambda: refresh_from(kw["from_ref"], build, report, push=push, report_json_path=kw["report_json"],
                                           report_md_path=kw["report_md"]), kw["verbose"])
    else:
        build = _build_options(kw, **mirrors, **keyrings)
        done = _guard(lambda: refresh(kw["lock_file"], build, report, report_json_path=kw["report_json"],
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

    report = _reporter(kw)
    count = _guard(lambda: store_lock(kw["lock_file"], kw["store"], report, cache_dir=kw["cache_dir"],
                                      jobs=kw["jobs"], offline=kw["offline"]), kw["verbose"])
    report.info(f"stored {count} files in {kw['store']}")


@cli.command("list")
def list_cmd() -> None:
    """Every profile and release this tool knows."""
    from bootstrap.config import list_profiles

    for info in _guard(list_profiles, False):
        aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
        click.echo(f"{info.name:<22} {info.family:<4} {info.release:<10} {info.description}{aliases}")


@cli.command("resolve")
@_common
@click.option("--why", "why", help="Print the chain of dependencies that pulled PKG in.")
def resolve_cmd(**kw: Any) -> None:
    """Print the packages PROFILE would install, with versions; downloads no package."""
    from bootstrap.pipeline import BuildOptions, resolve_only
    from bootstrap.report import Reporter

    opts = BuildOptions(profile=kw["profile"], include=kw["include"], exclude=kw["exclude"],
                        variant=kw["variant"], arch=kw["arch"], **_mirrors(kw["mirror"]),
                        keyrings=kw["keyrings"], verify=not kw["no_verify"], cache_dir=kw["cache_dir"],
                        jobs=kw["jobs"], buildrequires=kw["buildrequires"], defines=kw["defines"])
    report = Reporter(_emitter(kw["quiet"]), verbose=kw["verbose"])
    the_plan = _guard(lambda: resolve_only(opts, report), kw["verbose"])
    if kw["why"]:
        chosen = {p.name for p in the_plan.packages}
        if kw["why"] not in chosen:
            _fail(BootstrapError(f"{kw['why']} is not among the packages {opts.profile} would install"))
        click.echo(" → ".join(the_plan.reasons.get(kw["why"], (kw["why"],))))
        return
    for pkg in sorted(the_plan.packages, key=lambda p: p.name):
        click.echo(f"{pkg.name} {pkg.version} {pkg.arch}")


def _guard(func: Callable[[], Any], verbose: bool) -> Any:
    """Run `func`, turning every failure a user can cause into one line and an exit code.
    SIGTERM and SIGHUP stop it as Ctrl-C does (exit 128 + the signal's number)."""
    previous = _install_stop_handlers()
    try:
        return func()
    except BootstrapError as exc:
        _fail(exc)
    except Stopped as exc:
        stopped = Interrupted(f"{STOP_SIGNALS.get(signal.Signals(exc.signum), 'stopped')} "
                              f"({signal.Signals(exc.signum).name}); nothing was written")
        stopped.exit_code = 128 + exc.signum
        _fail(stopped)
    except KeyboardInterrupt:
        _fail(Interrupted("interrupted; nothing was written"))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            _fail(BootstrapError("no space left on the device", hint="free space or use --cache-dir elsewhere"))
        if verbose:
            raise
        _fail(BootstrapError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
    except Exception as exc:  # a bug: say so in one line, with the traceback on request
        if verbose:
            raise
        _fail(BootstrapError(f"internal error: {type(exc).__name__}: {exc}", hint="run with -v for the traceback"))
    finally:
        for signum, handler in previous.items():  # nothing left to clean up: the default again
            signal.signal(signum, handler)


def _fail(exc: BootstrapError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def main() -> None:
    """Console-script entry point."""
    from bootstrap.memory import return_freed_memory

    return_freed_memory()
    cli(prog_name="rootfs-bootstrap")
