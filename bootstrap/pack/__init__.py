"""The packer: the built root as a tarball, a directory, an OCI image layout or a docker archive.

`write_output` is the one entry point. Contract:
- tar: reproducible (see pack.tar), compressed as `compress` says (pack.compress.choose);
- dir: the tree itself at the output path (pack.directory);
- oci: an image layout directory, or its tar when the name ends in .tar (pack.oci);
- docker: a docker archive (`docker load`, `podman load`, skopeo `docker-archive:`), one layer;
- output "-" writes a tar stream to stdout (uncompressed unless asked) and returns None;
- everything else is written under `.NAME.tmp-XXXX` beside the output and renamed at the end:
  after any failure or Ctrl-C nothing exists at the output path;
- write failures raise PackError ("no space left writing X" for a full disk);
- `meter` (else the one `metered` set for the block, pack.tar) advances by the bytes of file
  content written, `content_bytes(root)` in all; a directory output counts nothing.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from bootstrap.errors import PackError, UsageError
from bootstrap.pack.compress import choose, open_sink
from bootstrap.pack.directory import device_nodes, write_directory
from bootstrap.pack.oci import ImageConfig, write_oci
from bootstrap.pack.output import as_pack_error, atomic_file, check_target
from bootstrap.pack.tar import content_bytes, current_meter, metered, write_tar
from bootstrap.types import FileEntry, Meter

__all__ = ["ImageConfig", "check_output", "content_bytes", "describe", "device_nodes", "metered", "write_output",
           "write_tar"]
FORMATS = ("tar", "dir", "oci", "docker")


def check_output(output: str, fmt: str = "tar") -> None:
    """Refuse, before any download, an output that write_output would refuse at the end (its
    directory missing, a directory where a file goes, an OCI layout that exists, a tar stream
    to a terminal). A directory output's parents are made."""
    if output == "-":
        if fmt != "tar":
            raise UsageError(f"format {fmt} cannot be written to stdout", hint="give an output path")
        if os.isatty(1):
            raise PackError("refusing to write a tarball to a terminal",
                            hint="redirect stdout to a file or a pipe (-o - > rootfs.tar)")
        return
    if fmt == "oci" and not output.endswith(".tar"):
        layout = Path(output.rstrip("/") or ".")
        if (layout / "oci-layout").exists():
            raise PackError(f"cannot write {layout}: an OCI image layout is there already",
                            hint="remove it or choose another path: a layout is written whole, never merged into")
        check_target(layout, directory=True)
        return
    if fmt == "dir" or output.endswith("/"):
        return
    check_target(Path(output))


def describe(output: str, fmt: str = "tar", compress: str = "auto") -> str:
    """What write_output will write, in a few words (the pack phase's start line):
    `rootfs.tar.xz (xz)`, `standard output (tar)`, `out/ (directory)`, `img (OCI layout)`."""
    where = "standard output" if output == "-" else output
    if fmt == "tar":
        method = choose(output, compress)
        return f"{where} ({'tar' if method == 'none' else method})"
    kinds = {"dir": "directory", "oci": "oci-archive" if output.endswith(".tar") else "OCI layout",
             "docker": "docker archive"}
    return f"{where} ({kinds.get(fmt, fmt)})"


def write_output(root: Path, output: str, *, fmt: str = "tar", compress: str = "auto",
                 overrides: Mapping[str, FileEntry] | None = None,
                 devices: Sequence[FileEntry] = (),
                 source_date_epoch: int | None = None,
                 config: ImageConfig | None = None, meter: Meter | None = None) -> Path | None:
    """Write `root` to `output` as `fmt`; returns the output path (None for stdout).

    `overrides` (root-relative path → manifest entry) give the owners, modes and xattrs an
    unprivileged build could not put on disk; `devices` the device nodes of a build that gives
    none (pack.tar.write_tar); `config` is required for OCI and docker output; `meter`: the
    module docstring.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if output == "-" and fmt != "tar":
        raise UsageError(f"format {fmt} cannot be written to stdout", hint="give an output path")
    method = choose(output, compress)
    meter = meter if meter is not None else current_meter()
    try:
        if fmt == "dir":
            return write_directory(Path(root), Path(output.rstrip("/") or "."))
        if fmt in ("oci", "docker"):
            if config is None:
                raise UsageError(f"{fmt} output needs an image configuration (architecture, command)")
            return write_oci(Path(root), Path(output), config, overrides=overrides, devices=devices,
                             source_date_epoch=source_date_epoch, fmt=fmt, meter=meter)
        if output == "-":
            _tar_to_stdout(Path(root), method, (overrides, devices), source_date_epoch, meter)
            return None
        with atomic_file(Path(output)) as out:
            _tar_into(Path(root), out, method, (overrides, devices), source_date_epoch, meter)
        return Path(output)
    except OSError as err:
        raise as_pack_error(err, output) from None


_Meta = tuple[Mapping[str, FileEntry] | None, Sequence[FileEntry]]  # (overrides, devices)


def _tar_into(root: Path, out: BinaryIO, method: str, meta: _Meta, epoch: int | None,
              meter: Meter | None) -> None:
    sink = open_sink(method, out)
    try:
        write_tar(root, sink.write, overrides=meta[0], devices=meta[1], source_date_epoch=epoch, meter=meter)
        sink.close()
    except BaseException:
        sink.kill()  # nothing may outlive a failure (the sink's contract)
        raise


def _tar_to_stdout(root: Path, method: str, meta: _Meta, epoch: int | None, meter: Meter | None) -> None:
    if os.isatty(1):
        raise PackError("refusing to write a tarball to a terminal",
                        hint="redirect stdout to a file or a pipe (-o - > rootfs.tar)")
    sys.stdout.flush()
    with open(1, "wb", buffering=1 << 20, closefd=False) as out:
        _tar_into(root, out, method, meta, epoch, meter)
