"""A build's output, around the packer: what is checked before anything is downloaded, where
the build root goes, the packing itself (owners and device nodes from the manifests), a
directory output's device nodes, the Dockerfile, and removing an output that an interrupted
build completed.

Contracts:
- `check` refuses, before the build, what `pack` would refuse at its end;
- `pack` writes the output (see bootstrap.pack.write_output); a directory output that fails
  while its device nodes are made is removed again: nothing half-made stays at the path;
- `discard` removes only what a build made (a regular file or a directory), never a device or
  FIFO it wrote into.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from bootstrap.adapters import Installed
from bootstrap.errors import UsageError
from bootstrap.pack import ImageConfig, check_output, device_nodes, write_output
from bootstrap.pack.directory import make_devices
from bootstrap.report import Reporter
from bootstrap.root import Root
from bootstrap.types import FileEntry


def check(output: str, fmt: str, devices: bool) -> None:
    """The output and its options, before any download (UsageError, PackError)."""
    if not output:
        raise UsageError("no output given", hint="pass -o FILE.tar.gz, -o DIR/ or -o -")
    check_output(output, fmt)
    if not devices:
        return
    if fmt != "dir":
        raise UsageError("--devices goes with --format dir",
                         hint="tar and OCI outputs always carry the device nodes, as tar headers")
    from bootstrap.sandbox.userns import initial_namespace

    # Not in a user namespace either (mode unshare's, a container's): none lets mknod make a device.
    if os.geteuid() != 0 or not initial_namespace():
        raise UsageError("--devices needs root of the host (creating device nodes needs CAP_MKNOD)",
                         hint="leave --devices out: the directory then has no device nodes")


def root_parent(output: str, fmt: str) -> Path | None:
    """Where the build root goes: beside a directory output (renamed into place), else TMPDIR."""
    if fmt == "dir" or output.endswith("/"):
        parent = Path(output.rstrip("/") or ".").resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        return parent
    return None


def pack_meta(installed: list[Installed]) -> tuple[dict[str, FileEntry] | None, list[FileEntry]]:
    """What the packer takes from the manifests besides the disk: (owner overrides, or None
    when the disk's owners are right; the device nodes packages ship)."""
    entries = [e for i in installed for e in i.manifest]
    # As root, the disk holds the right owners (the unpacker's chowns and the scripts'), but
    # never the device nodes: those come from the manifest, as tar headers. Mode unshare is
    # this case too: its build runs as uid 0 of its user namespace (bootstrap.rootless), where
    # the packer stats the ids as they are inside, root:shadow on /etc/shadow included.
    if os.geteuid() == 0:
        return None, device_nodes(entries)
    # Unprivileged extract: the disk holds our uid, the manifest the packages' owners; files
    # the tool made belong to root. (No script ran, so nothing else changed an owner.)
    return {e.path: e for e in entries}, device_nodes(entries)


def pack(root: Root, installed: list[Installed], *, output: str, fmt: str, compress: str,
         devices: bool, image: ImageConfig | None, report: Reporter, epoch: int) -> Path | None:
    """Pack `root` to `output`, every time clamped to `epoch` (bootstrap.epoch); returns its
    path (None for stdout)."""
    overrides, nodes = pack_meta(installed)
    out = write_output(root.path, output, fmt=fmt, compress=compress, overrides=overrides,
                       devices=nodes, source_date_epoch=epoch, config=image)
    if fmt == "dir" and out is not None and nodes:
        _dir_devices(out, nodes if devices else [], len(nodes), report)
    return out


def _dir_devices(out: Path, nodes: list[FileEntry], shipped: int, report: Reporter) -> None:
    """A directory output's device nodes: `nodes` made, or said to be missing when none."""
    if not nodes:
        report.info(f"pack: {shipped} device nodes left out of the directory (--devices makes them)")
        return
    try:
        report.info(f"pack: {make_devices(out, nodes)} device nodes made")
    except BaseException:
        discard(out)  # a half-made output is never left at the output path
        raise


def discard(out: Path) -> None:
    """Remove an output this build made (a regular file or a directory; never a device or
    FIFO it only wrote into)."""
    if out.is_symlink() or not out.exists():
        return
    if out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
    elif out.is_file():
        out.unlink(missing_ok=True)


def write_dockerfile(tarball: Path, command: tuple[str, ...]) -> Path:
    """`FROM scratch` + `ADD` + `CMD` beside the tarball, for `docker build`/`podman build`."""
    cmd = ", ".join(f'"{word}"' for word in command)
    path = tarball.parent / "Dockerfile"
    path.write_text(f"FROM scratch\nADD {tarball.name} /\nCMD [{cmd}]\n")
    return path
