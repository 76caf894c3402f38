"""`list`, `resolve` and `completion`: what the tool knows and what a profile would install."""
from __future__ import annotations

from typing import Any

import click

from bootstrap.cli.app import cli, emitter, fail, guard
from bootstrap.cli.options import common_options, selection
from bootstrap.errors import BootstrapError, UsageError


@cli.command("list")
@click.argument("filter_text", metavar="[FILTER]", required=False, default="")
@click.option("--family", type=click.Choice(["apt", "yum", "apk"]), help="Only this family's profiles.")
@click.option("--variants", is_flag=True, help="Show each profile's variants (the default one starred).")
def list_cmd(filter_text: str, family: str | None, variants: bool) -> None:
    """Every profile and release this tool knows (FILTER: a part of the name, alias, vendor
    or description, as `list centos`)."""
    from bootstrap.config import list_profiles

    word = filter_text.lower()
    for info in guard(list_profiles, False):
        if family and info.family != family:
            continue
        text = " ".join((info.name, info.vendor, info.description, *info.aliases)).lower()
        if word and word not in text:
            continue
        aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
        if variants:
            shown = " ".join(f"{v}*" if v == info.default_variant else v for v in info.variants)
            click.echo(f"{info.name:<22} {info.family:<4} {shown}")
        else:
            click.echo(f"{info.name:<22} {info.family:<4} {info.release:<10} {info.description}{aliases}")


@cli.command("resolve")
@common_options
@click.option("--why", "why", help="Print the chain of dependencies that pulled PKG in.")
@click.option("--json", "as_json", is_flag=True, help="The package list as JSON (versions, arches, URLs, sizes, "
                                                      "digests).")
@click.option("--print-uris", is_flag=True, help="What a build would fetch: 'URL' FILE SIZE DIGEST per package.")
def resolve_cmd(**kw: Any) -> None:
    """Print the packages PROFILE would install, with versions; downloads no package."""
    from bootstrap.pipeline import BuildOptions, resolve_only
    from bootstrap.report import Reporter

    opts = BuildOptions(**selection(kw))
    report = Reporter(emitter(kw["quiet"]), verbose=kw["verbose"])
    the_plan = guard(lambda: resolve_only(opts, report), kw["verbose"])
    if kw["why"]:
        chosen = {p.name for p in the_plan.packages}
        if kw["why"] not in chosen:
            fail(BootstrapError(f"{kw['why']} is not among the packages {opts.profile} would install"))
        click.echo(" → ".join(the_plan.reasons.get(kw["why"], (kw["why"],))))
        return
    from bootstrap.summary import plan_json, print_uris

    if kw["print_uris"]:
        for line in print_uris(the_plan.packages):
            click.echo(line)
        return
    if kw["as_json"]:
        click.echo(plan_json(the_plan.profile.name, the_plan.profile.arch, the_plan.variant, the_plan.packages),
                   nl=False)
        return
    for pkg in sorted(the_plan.packages, key=lambda p: p.name):
        click.echo(f"{pkg.name} {pkg.version} {pkg.arch}")


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]), required=False)
def completion_cmd(shell: str | None) -> None:
    """Print the shell completion script (profile names, variants, options).

    \b
    bash:  eval "$(rootfs-bootstrap completion bash)"    (or into ~/.bashrc)
    zsh:   eval "$(rootfs-bootstrap completion zsh)"
    fish:  rootfs-bootstrap completion fish > ~/.config/fish/completions/rootfs-bootstrap.fish
    """
    import os

    from click.shell_completion import get_completion_class

    shell = shell or os.path.basename(os.environ.get("SHELL", "bash"))
    klass = get_completion_class(shell)
    if klass is None:
        fail(UsageError(f"no completion for the shell {shell!r}", hint="give one of: bash, zsh, fish"))
        return
    click.echo(klass(cli, {}, "rootfs-bootstrap", "_ROOTFS_BOOTSTRAP_COMPLETE").source())
