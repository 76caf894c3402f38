"""The packer's image output: the root as one platform's image with one layer, written by
bootstrap.image's LayoutWriter (the one image writer): an OCI image layout directory
(`oci:DIR` for skopeo/podman/umoci), its tar (`oci-archive:FILE.tar`) when the output name
ends in `.tar`, or a docker archive (`docker-archive:FILE.tar`, `docker load`/`podman load`).

The same tree and epoch give the same digests (bootstrap.image.layout says how).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.image.spec import DEFAULT_PATH, ImageSpec, Platform
from bootstrap.types import FileEntry, Meter

__all__ = ["DEFAULT_PATH", "ImageConfig", "write_oci"]


@dataclass(frozen=True)
class ImageConfig:
    """What the image config says besides its layer: the platform in OCI's words (GOARCH
    `arch` and its `variant`, as the family's FamilyFacts.oci maps its own words), the default
    command and environment, and the tag (the OCI ref name in index.json; NAME:TAG for a
    docker archive's RepoTags)."""

    arch: str
    variant: str = ""
    cmd: tuple[str, ...] = ("/bin/sh",)
    env: tuple[str, ...] = (DEFAULT_PATH,)
    ref: str = "latest"


def write_oci(root: Path, final: Path, config: ImageConfig, *,
              overrides: Mapping[str, FileEntry] | None = None,
              devices: Sequence[FileEntry] = (),
              source_date_epoch: int | None = None, fmt: str = "oci", meter: Meter | None = None) -> Path:
    """Write the image of `root` at `final` as `fmt` ("oci": a layout directory, or its tar
    when the name ends in .tar; "docker": a docker archive); returns `final`. `overrides` and
    `devices` as for pack.tar.write_tar; every time in it is `source_date_epoch` (without one,
    now: builds always give theirs); `meter` as for LayoutWriter.add."""
    from bootstrap.image.layout import LayoutWriter

    epoch = int(time.time()) if source_date_epoch is None else source_date_epoch
    with LayoutWriter(final, fmt) as writer:
        writer.add(root, Platform(config.arch, config.variant), ImageSpec(cmd=config.cmd, env=config.env),
                   epoch=epoch, overrides=overrides, devices=devices, layers=None, meter=meter)
        return writer.finish([config.ref])
