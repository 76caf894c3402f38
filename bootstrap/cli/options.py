"""The options the commands share: what selects the packages (`common_options`), what shapes
an output or image (`output_options`), their callbacks and shell completion, and the
BuildOptions fields they give (`build_options`)."""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def csv_words(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """--include a,b --include c → (a, b, c)."""
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def mirrors(given: tuple[str, ...]) -> dict[str, Any]:
    """--mirror A --mirror B: A is the mirror, B an alternate tried when A fails."""
    return {"mirror": given[0] if given else None, "alternate_mirrors": tuple(given[1:])}


def _complete_profile(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of profile names and aliases."""
    from click.shell_completion import CompletionItem

    from bootstrap.config import list_profiles

    items = []
    for info in list_profiles():
        for name in (info.name, *info.aliases):
            if name.startswith(incomplete):
                items.append(CompletionItem(name, help=info.description))
    return items


def _complete_variant(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of --variant: the variants of the profile already typed (else all)."""
    from bootstrap.config import list_profiles

    # While an option's value is being completed click has not assigned the arguments yet:
    # the profile is then still among the unparsed words.
    typed = ctx.params.get("profile") or next((a for a in ctx.args if not a.startswith("-")), None)
    found: set[str] = set()
    for info in list_profiles():
        if typed in (None, info.name, *info.aliases):
            found.update(info.variants)
    return sorted(v for v in found if v.startswith(incomplete))


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by build and resolve (what selects the packages)."""
    options = [
        click.argument("profile", shell_complete=_complete_profile),
        click.option("--include", multiple=True, callback=csv_words,
                     help="Extra packages (comma-separated; repeatable)."),
        click.option("--exclude", multiple=True, callback=csv_words, help="Packages never to install."),
        click.option("--buildrequires", "buildrequires", multiple=True, metavar="FILE.spec",
                     type=click.Path(),
                     help="Also install the BuildRequires of this rpm spec file, for the target release "
                          "(a build root, as mock gives; repeatable)."),
        click.option("--define", "defines", multiple=True, metavar="'MACRO VALUE'",
                     help="Define an rpm macro for --buildrequires specs, as rpmbuild --define (repeatable)."),
        click.option("--variant", shell_complete=_complete_variant,
                     help="minbase, buildd, default, custom... (`list --variants` shows each profile's)."),
        click.option("--components", multiple=True, callback=csv_words, metavar="AREA,...",
                     help="Archive areas of apt profiles (main,contrib,non-free,non-free-firmware), replacing "
                          "the profile's (debootstrap's and mmdebstrap's --components)."),
        click.option("--arch", help="Target architecture in the distribution's words (amd64, i386, x86_64...)."),
        click.option("--mirror", multiple=True,
                     help="Root of the distribution's mirror; its layout is kept. Given again: other "
                          "mirrors of the same archive, tried in order when one fails."),
        click.option("--keyring", "keyrings", multiple=True, type=click.Path(exists=True),
                     help="Also trust these keys: a key file or a directory of them (repeatable)."),
        click.option("--keyring-only", is_flag=True, help="Trust only the --keyring keys, not the shipped ones."),
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


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
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
        click.option("--platform", "platforms", multiple=True, callback=csv_words, metavar="ARCH,...",
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


def image_options(kw: dict[str, Any]) -> Any:
    from bootstrap.buildplan import ImageOptions

    return ImageOptions(cmd=kw["cmd"], entrypoint=kw["entrypoint"] or (), env=kw["env"], workdir=kw["workdir"],
                        user=kw["user"], labels=tuple(tuple(x.split("=", 1)) for x in kw["labels"]),
                        tags=kw["tags"], source=kw["source"], revision=kw["revision"], layers=kw["layers"],
                        platforms=kw["platforms"], push=kw["push"], insecure_registry=kw["insecure_registry"])


def build_options(kw: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The BuildOptions fields the output options give."""
    output = kw["output"] or ""
    image = kw["push"] or kw["platforms"]
    fmt = kw["fmt"] or ("oci" if image else "dir" if output.endswith("/") else "tar")
    if not output and not kw["push"]:
        if not kw.get("profile"):  # refresh: the output is the caller's to name
            raise click.UsageError("Missing option '-o' / '--output' (or --push REF).")
        from bootstrap.summary import default_output

        output = default_output(kw["profile"], fmt)
        if not (kw.get("dry_run") or kw["quiet"]):
            click.echo(f"I: no -o given: writing {output}", err=True)
    return {"output": output, "fmt": fmt, "compress": kw["compress"], "mode": kw["mode"],
            "cache_dir": kw["cache_dir"], "jobs": kw["jobs"], "offline": kw["offline"], "store": kw["store"],
            "sbom_format": kw["sbom_format"], "image": image_options(kw), **more}


def selection(kw: dict[str, Any]) -> dict[str, Any]:
    """The BuildOptions fields that `common_options` give: what selects the packages, where
    from, with which keys."""
    return {"profile": kw["profile"], "include": kw["include"], "exclude": kw["exclude"], "variant": kw["variant"],
            "arch": kw["arch"], **mirrors(kw["mirror"]), "keyrings": kw["keyrings"],
            "keyring_only": kw["keyring_only"], "verify": not kw["no_verify"], "cache_dir": kw["cache_dir"],
            "jobs": kw["jobs"], "buildrequires": kw["buildrequires"], "defines": kw["defines"],
            "components": kw["components"]}
