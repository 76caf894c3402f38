"""The command line: `rootfs-bootstrap PROFILE [options]` (= `build`), `lock`, `refresh`,
`fetch`, `list`, `resolve`, `completion`.

The only package that imports click, and the only place that exits (`app.guard`). One module
per group of commands; `app` holds the group, the reporter and the exit; `options` what the
commands share.
"""
from bootstrap.cli import build, nightly, query  # noqa: F401  (each registers its commands)
from bootstrap.cli.app import COMMANDS, cli, guard, main

_guard = guard  # the name older callers use

__all__ = ["COMMANDS", "cli", "guard", "main"]
