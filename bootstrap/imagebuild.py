"""Image builds: one root per architecture into one OCI layout (or docker archive), each
image carrying its SBOM and its lock as attachments, then pushed where asked.

Contract of `build_image(opts, report, locks=None)`:
- `--platform a,b` (opts.image.platforms) builds one image per architecture word, one build
  root at a time, into one image index; without it, the profile's (or --arch's) one image.
  A foreign architecture is built as choose_mode says (qemu-user where binfmt_misc offers it,
  else extract mode, said so).
- With `locks` (by arch word) each platform is built from its lock, resolving nothing;
  otherwise it is resolved, and the lock of that resolution travels with the image.
- Every image manifest carries the annotations `org.opencontainers.image.created` (the build
  epoch), `.base.name` / `.version` (profile, release), `.source` / `.revision` when given,
  `org.rootfs-bootstrap.packages` (how many are installed), `org.rootfs-bootstrap.layers`
  (the layer budget asked), `org.rootfs-bootstrap.mode` (the --mode asked: a refresh from
  the registry builds as the published image was built), and for each attachment the digest of its blob
  (`org.rootfs-bootstrap.lock.digest`, `org.rootfs-bootstrap.sbom.digest`): the lock is what
  `refresh --from` reads back from a registry.
- With an output path the layout is written there (whole or not at all), and the SBOM of each
  platform beside it (`OUT.spdx.json`, `OUT.ARCH.spdx.json` for several); with `--push` the
  layout is pushed (blobs the registry has are not sent again); pushing without `-o` stages
  the layout in TMPDIR and removes it.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bootstrap import output
from bootstrap.adapters import Installed
from bootstrap.buildplan import BuildFacts, BuildOptions, ImageOptions, Plan
from bootstrap.buildsbom import MEDIA_TYPES, build_sbom
from bootstrap.errors import UsageError
from bootstrap.image import (
    DEFAULT_PATH,
    Attachment,
    ImageSpec,
    LayoutWriter,
    Platform,
    parse_tag,
    split_layers,
    with_env,
)
from bootstrap.lock import Lock, dumps
from bootstrap.machine import oci_platform
from bootstrap.report import Reporter
from bootstrap.root import Root

LOCK_TYPE = "application/vnd.rootfs-bootstrap.lock.v1+json"
LOCK_ANNOTATION = "org.rootfs-bootstrap.lock.digest"
SBOM_ANNOTATION = "org.rootfs-bootstrap.sbom.digest"
PACKAGES_ANNOTATION = "org.rootfs-bootstrap.packages"
LAYERS_ANNOTATION = "org.rootfs-bootstrap.layers"
MODE_ANNOTATION = "org.rootfs-bootstrap.mode"
IMAGE_FORMATS = ("oci", "docker")


@dataclass(frozen=True)
class ImageResult:
    """What an image build made: the output written (None when only pushed), the pushed
    reference with its manifest digest, and the lock of each architecture built."""

    output: Path | None
    pushed: str | None
    locks: Mapping[str, Lock]


def is_image_build(opts: BuildOptions) -> bool:
    """Whether `opts` asks for an image (an image format, a push, several platforms)."""
    return opts.fmt in IMAGE_FORMATS or bool(opts.image.push) or len(opts.image.platforms) > 1


def check_image(opts: BuildOptions) -> None:
    """Refuse, before any download, what the image build would refuse at its end."""
    image = opts.image
    if opts.fmt not in IMAGE_FORMATS:
        raise UsageError(f"--push and --platform make images: --format {opts.fmt} is no image format",
                         hint="use --format oci (a layout, or an oci-archive .tar) or --format docker")
    if opts.fmt == "docker" and len(image.platforms) > 1:
        raise UsageError("a docker archive holds one platform", hint="use --format oci for several")
    if image.push and opts.output and (opts.fmt != "oci" or opts.output.endswith(".tar")):
        raise UsageError("--push sends an OCI layout directory: -o must be one (or be left out)",
                         hint="give -o DIR/ --format oci, or no -o (the layout is staged in TMPDIR)")
    if image.layers < 1:
        raise UsageError("--layers takes a number of at least 1")
    for tag in image.tags:
        parse_tag(tag)  # a malformed --tag fails now, not after the build
    if image.push:
        from bootstrap.registry import parse_reference

        parse_reference(image.push)  # a malformed reference fails now
    if opts.output:
        output.check(opts.output, opts.fmt, False)


def build_image(opts: BuildOptions, report: Reporter, locks: Mapping[str, Lock] | None = None,
                facts: BuildFacts | None = None) -> ImageResult:
    """See the module docstring. `opts.output` may be empty when pushing; `facts` gathers
    what every platform's build did (its packages, one after the other)."""
    check_image(opts)
    staging = None if opts.output else Path(tempfile.mkdtemp(prefix="rootfs-bootstrap-image."))
    final = staging / "layout" if staging is not None else Path(opts.output.rstrip("/"))
    arches: Sequence[str | None] = (tuple(locks) if locks else opts.image.platforms) or (opts.arch,)
    made: dict[str, Lock] = {}
    written: list[Path] = []  # the SBOMs beside the output, removed again if the build fails
    try:
        with LayoutWriter(final, opts.fmt) as writer:
            for arch in arches:
                one = replace(opts, arch=arch, output=str(final))
                packer = _Packer(writer, one, report, None if locks is None else locks[str(arch)],
                                 None if staging is not None else final, len(arches) > 1, written)
                each = BuildFacts()
                if locks is None:
                    from bootstrap.pipeline import build

                    build(one, report, packer=packer, facts=each)
                else:
                    from bootstrap.locked import build_from_lock

                    build_from_lock(locks[str(arch)], one, report, packer=packer, facts=each)
                made[packer.arch] = packer.lock
                if facts is not None:
                    facts.packages += each.packages
                    facts.mode, facts.epoch = each.mode, each.epoch
            writer.finish(_tags(opts.image))
    except BaseException:
        for path in written:  # the layout never reached `final`: neither do its SBOMs
            path.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        # A failed push leaves the output written (it is whole): the error says what failed.
        pushed = _push(final, opts.image, report) if opts.image.push else None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return ImageResult(None if staging is not None else final, pushed, made)


def _tags(image: ImageOptions) -> list[str]:
    """The layout's tags: --tag, else the pushed reference's tag, else latest."""
    if image.tags:
        return list(image.tags)
    if image.push:
        from bootstrap.registry import parse_reference

        return [parse_reference(image.push).tag or "latest"]
    return ["latest"]


def _push(layout: Path, image: ImageOptions, report: Reporter) -> str:
    from bootstrap.registry import RegistryClient, parse_reference, push_layout

    ref = parse_reference(image.push)
    client = RegistryClient(ref.registry, insecure=image.insecure_registry, log=report.debug)
    with report.phase("push", image.push, unit=""):
        result = push_layout(layout, ref, client, log=report.debug, mount_from=image.mount_from)
    report.info(f"pushed {image.push}@{result.digest}: {result.uploaded} blobs uploaded, "
                f"{result.present} already there, {result.mounted} mounted")
    return f"{image.push}@{result.digest}"


def _sbom_file(final: Path, fmt: str, arch: str, several: bool) -> Path:
    from bootstrap import sbom

    path = sbom.sbom_path(final, fmt)
    if not several:
        return path
    stem, dot, rest = path.name.partition(".")
    return path.with_name(f"{stem}.{arch}{dot}{rest}")


class _Packer:
    """The pipeline's Packer for one architecture: the finished root into the layout, with
    its SBOM and lock attached (and the SBOM written beside the output)."""

    def __init__(self, writer: LayoutWriter, opts: BuildOptions, report: Reporter, lock: Lock | None,
                 beside: Path | None, several: bool, written: list[Path]) -> None:
        self.writer, self.opts, self.report, self.beside, self.several = writer, opts, report, beside, several
        self.written = written
        self.given = lock
        self.arch = str(opts.arch or "")
        self.lock: Lock

    def __call__(self, the_plan: Plan, installed: list[Installed], root: Root, epoch: int) -> None:
        from bootstrap.locked import lock_from_plan

        profile = the_plan.profile
        self.arch = profile.arch
        self.lock = self.given if self.given is not None else lock_from_plan(the_plan, self.opts)
        arch, variant = oci_platform(profile.arch, the_plan.adapter)
        attachments = [Attachment(LOCK_TYPE, LOCK_TYPE, dumps(self.lock).encode(), LOCK_ANNOTATION,
                                  f"{profile.name}.lock")]
        fmt = self.opts.sbom_format
        if fmt != "none":
            from bootstrap import sbom

            document = build_sbom(f"{profile.name}-{profile.arch}", profile, the_plan.adapter.facts, installed, epoch)
            text = sbom.render(document, fmt)
            attachments.append(Attachment(MEDIA_TYPES[fmt], MEDIA_TYPES[fmt], text.encode(), SBOM_ANNOTATION,
                                          f"{profile.name}-{profile.arch}.{fmt}.json"))
            if self.beside is not None:
                path = sbom.write_sbom(_sbom_file(self.beside, fmt, profile.arch, self.several), document, fmt)
                self.written.append(path)
                self.report.info(f"sbom: {path} ({len(document.packages)} packages, {fmt})")
        overrides, nodes = output.pack_meta(installed)
        layers = None
        if self.opts.image.layers > 1:
            owners = [(i.package.name, [e.path for e in i.manifest]) for i in installed]
            layers = split_layers(root.path, owners, self.opts.image.layers)
        self.writer.add(root.path, Platform(arch, variant), self._spec(the_plan, len(installed)), epoch=epoch,
                        overrides=overrides, devices=nodes, layers=layers, attachments=attachments)
        self.report.info(f"image: {profile.arch} ({arch}{'/' + variant if variant else ''}), "
                         f"{len(layers) if layers else 1} layers, {len(installed)} packages")

    def _spec(self, the_plan: Plan, count: int) -> ImageSpec:
        image, profile = self.opts.image, the_plan.profile
        notes = {"org.opencontainers.image.base.name": profile.name,
                 "org.opencontainers.image.version": profile.release,
                 PACKAGES_ANNOTATION: str(count), LAYERS_ANNOTATION: str(image.layers),
                 MODE_ANNOTATION: self.opts.mode}
        if image.source:
            notes["org.opencontainers.image.source"] = image.source
        if image.revision:
            notes["org.opencontainers.image.revision"] = image.revision
        return ImageSpec(cmd=profile.command if image.cmd is None else image.cmd, entrypoint=image.entrypoint,
                         env=with_env((DEFAULT_PATH,), image.env), workdir=image.workdir, user=image.user,
                         labels=image.labels, annotations=tuple(sorted(notes.items())))
