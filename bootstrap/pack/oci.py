"""OCI image layout output: one gzip layer (the reproducible tar of the root), its config and
manifest, as a directory (`oci:DIR` for skopeo/podman/umoci) or as a tar of that directory
(`oci-archive:FILE.tar`) when the output name ends in `.tar`.

JSON is written with sorted keys and no spaces, and `created` comes from SOURCE_DATE_EPOCH
when given, so the same tree and epoch give the same digests.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bootstrap.pack.compress import open_sink
from bootstrap.pack.output import atomic_dir, atomic_file, check_target, umask
from bootstrap.pack.tar import write_tar
from bootstrap.types import FileEntry

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"

@dataclass(frozen=True)
class ImageConfig:
    """What the image config says besides its layer: the platform in OCI's words (GOARCH
    `arch` and its `variant`, as the family's FamilyFacts.oci maps its own words), the default
    command, environment, creation time (RFC 3339; None means SOURCE_DATE_EPOCH when given,
    else now) and the reference name in index.json."""

    arch: str
    variant: str = ""
    cmd: tuple[str, ...] = ("/bin/sh",)
    env: tuple[str, ...] = (DEFAULT_PATH,)
    created: str | None = None
    ref: str = "latest"


def write_oci(root: Path, final: Path, config: ImageConfig, *,
              overrides: Mapping[str, FileEntry] | None = None,
              devices: Sequence[FileEntry] = (),
              source_date_epoch: int | None = None) -> Path:
    """Write the image layout of `root` at `final` (a directory, or a tar when the name ends
    in .tar); returns `final`. `overrides` and `devices` as for pack.tar.write_tar."""
    if not final.name.endswith(".tar"):
        with atomic_dir(final) as tmp:
            _layout(root, tmp, config, (overrides, devices), source_date_epoch)
            os.chmod(tmp, 0o777 & ~umask())
        return final
    check_target(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        _layout(root, tmp, config, (overrides, devices), source_date_epoch)
        with atomic_file(final) as out:
            write_tar(tmp, _sink(out), overrides={}, source_date_epoch=source_date_epoch)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


_Meta = tuple[Mapping[str, FileEntry] | None, Sequence[FileEntry]]  # (overrides, devices)


def _layout(root: Path, into: Path, config: ImageConfig, meta: _Meta, epoch: int | None) -> None:
    blobs = into / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer, diff_id = _layer(root, blobs, meta, epoch)
    created = config.created or time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch if epoch is not None else time.time()))
    arch, variant = config.arch, config.variant
    image: dict[str, object] = {
        "architecture": arch, "os": "linux", "created": created,
        "config": {"Cmd": list(config.cmd), "Env": list(config.env)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "rootfs-bootstrap"}],
    }
    if variant:
        image["variant"] = variant
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                "config": _blob(blobs, CONFIG_TYPE, image), "layers": [layer]}
    described = _blob(blobs, MANIFEST_TYPE, manifest)
    described["annotations"] = {"org.opencontainers.image.ref.name": config.ref}
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    described["platform"] = platform
    _write(into / "index.json", _json({"schemaVersion": 2, "manifests": [described]}))
    _write(into / "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    for path in [into, *into.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if epoch is not None:
            os.utime(path, (epoch, epoch))


def _layer(root: Path, blobs: Path, meta: _Meta, epoch: int | None) -> tuple[dict[str, object], str]:
    """The gzip layer blob; returns (its descriptor, the uncompressed tar's diff_id)."""
    tmp = blobs / ".layer.tmp"
    diff = hashlib.sha256()
    with open(tmp, "wb", buffering=1 << 20) as out:
        sink = open_sink("gzip", out)

        def tee(data: bytes) -> None:
            diff.update(data)
            sink.write(data)

        try:
            write_tar(root, tee, overrides=meta[0], devices=meta[1], source_date_epoch=epoch)
            sink.close()
        except BaseException:
            getattr(sink, "kill", lambda: None)()
            raise
    with open(tmp, "rb") as blob:
        digest = hashlib.file_digest(blob, "sha256").hexdigest()
    os.replace(tmp, blobs / digest)
    return ({"mediaType": LAYER_TYPE, "digest": f"sha256:{digest}",
             "size": (blobs / digest).stat().st_size}, f"sha256:{diff.hexdigest()}")


def _blob(blobs: Path, media_type: str, document: Mapping[str, object]) -> dict[str, object]:
    data = _json(document)
    digest = hashlib.sha256(data).hexdigest()
    _write(blobs / digest, data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _json(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _sink(out: BinaryIO) -> Callable[[bytes], None]:
    """A file's write as the tar writer's sink (which takes no count back)."""
    def write(data: bytes) -> None:
        out.write(data)

    return write
