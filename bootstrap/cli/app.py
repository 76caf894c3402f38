"""The command line's frame: the group (a first word that is no command is a profile, which
means `build PROFILE`; anything else is an error with "did you mean"), the reporter each
command gets, and `guard`, the only place that exits: every BootstrapError becomes
`error: <message>` (+ `hint: ...`) on stderr and its exit code, with no traceback."""
from __future__ import annotations

import difflib
import errno
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from bootstrap import __version__
from bootstrap.cli.options import _complete_profile
from bootstrap.errors import BootstrapError, Interrupted, UsageError
from bootstrap.signals import Stopped, deferring, note_stop

ARGV = "rootfs-bootstrap.argv"  # ctx.meta key: the command line's words after the program name
COMMANDS = ("build", "completion", "fetch", "list", "lock", "refresh", "resolve")
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
        if deferring():  # inside libarchive's callbacks: raised after the C call returns
            return
        raise Stopped(signum)

    def interrupt(signum: int, frame: object) -> None:
        """Ctrl-C as Python's own handler gives it, but noted rather than raised where a
        ctypes callback would swallow it."""
        if deferring():
            note_stop(signum)
            return
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup: the user asked for this signal to be ignored
        previous[signum] = signal.signal(signum, handler)
    return previous


class _DefaultToBuild(click.Group):
    """`rootfs-bootstrap debian-bookworm ...` means `rootfs-bootstrap build debian-bookworm ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV] = list(args)  # the words as given: a build in a user namespace runs them again
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            from bootstrap.config import profile_names

            names = guard(profile_names, False)
            if args[0] not in names:
                close = difflib.get_close_matches(args[0], [*self.commands, *names], n=3, cutoff=0.6)
                hint = f"did you mean {', '.join(close)}? " if close else ""
                fail(UsageError(f"no such command or profile {args[0]!r}",
                                 hint=hint + f"commands: {', '.join(sorted(self.commands))}; "
                                             "`rootfs-bootstrap list` shows the profiles"))
            args = ["build"] + args
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """The first word is a command or a profile (which means `build PROFILE`)."""
        return [*super().shell_complete(ctx, incomplete), *_complete_profile(ctx, None, incomplete)]  # type: ignore[arg-type]


def emitter(quiet: bool, write: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """The reporter's lines on stderr: with -q only warnings and errors; through `write` when
    given (terminal bars are up: it prints above them, bootstrap.progress)."""
    def emit(line: str) -> None:
        if quiet and not line.startswith(("W:", "E:")):
            return
        if write is not None:
            write(line)
        else:
            click.echo(line, err=True)
    return emit


@click.group(cls=_DefaultToBuild, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rootfs-bootstrap")
def cli() -> None:
    """Build a Linux root filesystem from a distribution's package mirror.

    \b
    rootfs-bootstrap debian-bookworm              (writes ./debian-bookworm.tar.gz)
    rootfs-bootstrap centos4.3 --include gcc-c++,bash -o centos4.3.tar.xz
    rootfs-bootstrap list [FILTER] [--family apt|yum|apk] [--variants]

    \b
    Exit codes:
      0    done
      1    an internal error, or another failure
      2    a usage, profile, configuration or lock error
      3    a download or repository index failed
      4    a signature or digest did not verify
      5    no set of packages satisfies the request
      6    unpacking failed (or a package tried to write outside the root)
      7    configuring failed (a maintainer script)
      8    writing the output failed
      9    the build's workspace failed (no space in TMPDIR...)
      10   refresh: something changed (built, lock rewritten or image pushed)
      130  interrupted (Ctrl-C); 143 SIGTERM, 129 SIGHUP
    """


def reporter(kw: dict[str, Any], progress: bool = True) -> Any:
    from bootstrap.progress import terminal_progress
    from bootstrap.report import Reporter

    # Bars on a terminal, never with -q; where there are none the reporter says when each
    # phase starts instead (bootstrap.report).
    bars = None if kw["quiet"] or not progress else terminal_progress()
    return Reporter(emitter(kw["quiet"], bars.write if bars is not None else None), verbose=kw["verbose"],
                    progress=bars)


def guard(func: Callable[[], Any], verbose: bool) -> Any:
    """Run `func`, turning every failure a user can cause into one line and an exit code.
    SIGTERM and SIGHUP stop it as Ctrl-C does (exit 128 + the signal's number)."""
    previous = _install_stop_handlers()
    try:
        return func()
    except BootstrapError as exc:
        fail(exc)
    except Stopped as exc:
        if exc.signum == signal.SIGINT:  # a Ctrl-C noted in a deferred block
            fail(Interrupted("interrupted; nothing was written"))
        stopped = Interrupted(f"{STOP_SIGNALS.get(signal.Signals(exc.signum), 'stopped')} "
                              f"({signal.Signals(exc.signum).name}); nothing was written")
        stopped.exit_code = 128 + exc.signum
        fail(stopped)
    except KeyboardInterrupt:
        fail(Interrupted("interrupted; nothing was written"))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            fail(BootstrapError("no space left on the device", hint="free space or use --cache-dir elsewhere"))
        if verbose:
            raise
        fail(BootstrapError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
    except Exception as exc:  # a bug: say so in one line, with the traceback on request
        if verbose:
            raise
        fail(BootstrapError(f"internal error: {type(exc).__name__}: {exc}", hint="run with -v for the traceback"))
    finally:
        for signum, handler in previous.items():  # nothing left to clean up: the default again
            signal.signal(signum, handler)


def fail(exc: BootstrapError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def main() -> None:
    """Console-script entry point."""
    from bootstrap.memory import return_freed_memory

    return_freed_memory()
    cli(prog_name="rootfs-bootstrap")
