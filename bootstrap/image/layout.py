"""Container images written as an OCI image layout, one platform at a time.

`LayoutWriter(final, fmt)` stages the layout in a temporary directory beside `final` and puts
it there whole when `finish` is called, or not at all: a failure in `add` or `finish`, or
leaving its `with` block without `finish`, removes the staging directory, and nothing
half-written ever stands at `final`. Formats:
- "oci": an image layout directory (`oci:DIR:TAG` for skopeo, umoci, podman), or its tar
  (`oci-archive:FILE.tar:TAG`) when `final`'s name ends in .tar; gzip layers;
- "docker": a docker-archive tar as docker 25's `docker save` writes it: the OCI layout plus
  a `manifest.json` naming the config, layers and `RepoTags`, so `docker load`,
  `podman load` and skopeo's `docker-archive:` all read it; uncompressed layers, whose
  digest is their diff_id. One platform only.

Attachments (OCI 1.1 artifacts whose subject is the image manifest) are listed, unnamed, in a
directory's index.json, for a pusher to send. An archive's index.json names its image(s)
only: `podman load` refuses an oci-archive whose index.json lists more than one manifest. It
carries each attachment's blob (the image manifest's annotation names it), no artifact
manifest. Tags: OCI ref names are the TAG part of `NAME:TAG`; podman names an oci-archive it
loads after that ref name (`localhost/TAG:latest`), so give a docker archive for podman.

Same trees, specs and epochs give the same bytes: JSON with sorted keys and no spaces, every
time the epoch given (config `created`, the manifest's org.opencontainers.image.created, file
times clamped to it), gzip through pack.compress (one implementation, fixed blocks).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from bootstrap.errors import PackError, UsageError
from bootstrap.image.layers import Layer, with_parents
from bootstrap.image.spec import Attachment, Descriptor, ImageSpec, Platform, Tag, parse_tag
from bootstrap.pack.compress import open_sink
from bootstrap.pack.output import as_pack_error, atomic_dir, atomic_file, check_target, is_special, umask
from bootstrap.pack.tar import current_meter, missing_nodes, write_tar
from bootstrap.types import FileEntry, Meter

FORMATS = ("oci", "docker")
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
CREATOR = "rootfs-bootstrap"
_T = TypeVar("_T")


class _Aborted(Exception):
    """Thrown into the staging context so it removes what it made."""


@dataclass(frozen=True)
class _Image:
    descriptor: Descriptor  # the image manifest's, with its platform
    config: Descriptor
    layers: tuple[Descriptor, ...]


class LayoutWriter:
    """See the module docstring. Use as a context manager, or call `abort` on failure."""

    def __init__(self, final: Path, fmt: str) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown image format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
        self.final, self.fmt = final, fmt
        self.archive = fmt == "docker" or final.name.endswith(".tar")
        self._images: list[_Image] = []
        self._artifacts: list[Descriptor] = []
        self._epoch = 0
        self._stack = ExitStack()
        if self.archive:
            check_target(final)
            # A device or FIFO output (/dev/null) is written in place: stage elsewhere.
            where = Path(tempfile.gettempdir()) if is_special(final) else final.parent
            self.stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=where))
            self._stack.callback(shutil.rmtree, self.stage, ignore_errors=True)
        else:
            self.stage = self._stack.enter_context(atomic_dir(final))
        self._open = True
        self._blobs = self.stage / "blobs" / "sha256"
        self._guarded(lambda: self._blobs.mkdir(parents=True))

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()  # after finish: nothing left to do

    def abort(self) -> None:
        """Remove the staging directory (idempotent; nothing is at `final` unless finished)."""
        if not self._open:
            return
        self._open = False
        self._stack.__exit__(_Aborted, _Aborted("layout aborted"), None)

    def add(self, root: Path, platform: Platform, spec: ImageSpec, *, epoch: int,
            overrides: Mapping[str, FileEntry] | None = None, devices: Sequence[FileEntry] = (),
            layers: Sequence[Layer] | None = None, attachments: Sequence[Attachment] = (),
            meter: Meter | None = None) -> Descriptor:
        """Add the image of `root` for `platform`: its layers (one of the whole root when
        `layers` is None or empty, else one per `Layer`, each device node in exactly one),
        config, manifest and attachments. `overrides` and `devices` as for pack.tar.write_tar;
        every time is `epoch`; `meter` (else pack.tar's `current_meter()`) advances by the
        bytes of file content the layers take (`content_bytes(root)` in all). Returns the
        image manifest's descriptor, with its platform.
        UsageError: a second platform in a docker archive, or one platform twice; PackError:
        `root` is no directory, or a write failed."""
        def work() -> Descriptor:
            if not root.is_dir():
                raise PackError(f"cannot make an image of {root}: no such directory")
            if self.fmt == "docker" and self._images:
                raise UsageError("a docker archive holds one platform", hint="use --format oci")
            if any(image.descriptor.platform == platform for image in self._images):
                raise UsageError(f"platform {platform} is in this image already")
            return self._add(root, platform, spec, epoch, (overrides, devices), layers or None, attachments,
                             meter if meter is not None else current_meter())

        return self._guarded(work)

    def finish(self, tags: Sequence[str], annotations: Mapping[str, str] | None = None) -> Path:
        """Write index.json and put the layout at `final` (see the module docstring); returns
        `final`. index.json holds an entry per tag (none given: "latest") whose ref.name is the
        TAG part (in a docker archive: NAME:TAG, see `_write_index`), and in a directory the
        attachments' manifests, unnamed; `annotations` go on it, and for several platforms on
        the image index blob its entries point at (manifests sorted by platform). A docker
        archive also gets docker save's manifest.json."""
        def work() -> Path:
            if not self._images:
                raise ValueError("finish() before any add(): an image layout needs an image")
            refs = _refs(tags)
            notes = dict(sorted((annotations or {}).items()))
            self._write_index(self._target(notes), refs, notes)
            if self.fmt == "docker":
                self._write_docker_manifest(refs)
            self._settle()
            self._place()
            return self.final

        return self._guarded(work)

    def _guarded(self, work: Callable[[], _T]) -> _T:
        """Run `work`; on any failure abort first (nothing half-written stays), a write
        failure becoming the user's PackError."""
        if not self._open:
            raise ValueError("this image layout was finished or aborted already")
        try:
            return work()
        except OSError as err:
            self.abort()
            raise as_pack_error(err, str(self.final)) from None
        except BaseException:
            self.abort()
            raise

    # -- one platform's image --------------------------------------------------------------

    def _add(self, root: Path, platform: Platform, spec: ImageSpec, epoch: int, meta: _Meta,
             layers: Sequence[Layer] | None, attachments: Sequence[Attachment], meter: Meter | None) -> Descriptor:
        created = rfc3339(epoch)
        self._epoch = max(self._epoch, epoch)
        written = [self._layer(root, only, meta, epoch, meter) for only in _selections(root, layers, meta)]
        names = [layer.name for layer in layers] if layers else [""]
        config = self._json_blob(CONFIG_TYPE, _config(platform, spec, created, [d for _, d in written], names))
        files = [self._blob(a.media_type, a.data, ((TITLE, a.title),) if a.title else ()) for a in attachments]
        notes = {**dict(spec.annotations), CREATED: created, **{a.annotation: f.digest
                                                                 for a, f in zip(attachments, files, strict=True)}}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config.json(),
                    "layers": [layer.json() for layer, _ in written], "annotations": notes}
        subject = self._json_blob(MANIFEST_TYPE, manifest)
        # An archive's index.json must name one image for `podman load` (it refuses "more
        # than one image"): archives carry the attachments' blobs, found by the image
        # manifest's annotations, but no artifact manifests.
        for attachment, blob in zip(attachments, files, strict=True):
            if not self.archive:
                self._artifacts.append(self._artifact(attachment, blob, subject, created))
        described = replace(subject, platform=platform)
        self._images.append(_Image(described, config, tuple(layer for layer, _ in written)))
        return described

    def _layer(self, root: Path, only: frozenset[bytes] | None, meta: _Meta, epoch: int,
               meter: Meter | None) -> tuple[Descriptor, str]:
        """One layer blob of `root` (`only` its paths); returns (its descriptor, its diff_id)."""
        tmp = self._blobs / ".layer.tmp"
        diff = hashlib.sha256()
        compressed = self.fmt == "oci"  # docker's layers stay plain: their digest is the diff_id
        with open(tmp, "wb", buffering=1 << 20) as out:
            sink = open_sink("gzip" if compressed else "none", out)

            def tee(data: bytes) -> None:
                diff.update(data)
                sink.write(data)

            try:
                write_tar(root, tee, overrides=meta[0], devices=meta[1], source_date_epoch=epoch, only=only,
                          meter=meter)
                sink.close()
            except BaseException:
                sink.kill()
                raise
        digest = diff.hexdigest()
        if compressed:
            with open(tmp, "rb") as blob:
                digest = hashlib.file_digest(blob, "sha256").hexdigest()
        size = tmp.stat().st_size
        os.replace(tmp, self._blobs / digest)
        return (Descriptor(GZIP_LAYER if compressed else TAR_LAYER, f"sha256:{digest}", size),
                f"sha256:{diff.hexdigest()}")

    def _artifact(self, attachment: Attachment, blob: Descriptor, subject: Descriptor, created: str) -> Descriptor:
        """The OCI 1.1 artifact manifest of one attachment, whose subject is the image."""
        empty = self._blob(EMPTY_TYPE, b"{}")
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": attachment.artifact_type,
                    "config": empty.json(), "layers": [blob.json()], "subject": subject.json(),
                    "annotations": {CREATED: created}}
        return replace(self._json_blob(MANIFEST_TYPE, manifest), artifact_type=attachment.artifact_type)

    def _blob(self, media_type: str, data: bytes, annotations: tuple[tuple[str, str], ...] = ()) -> Descriptor:
        digest = hashlib.sha256(data).hexdigest()
        (self._blobs / digest).write_bytes(data)
        return Descriptor(media_type, f"sha256:{digest}", len(data), annotations=annotations)

    def _json_blob(self, media_type: str, document: Mapping[str, object]) -> Descriptor:
        return self._blob(media_type, _json(document))

    # -- the layout's entry points -----------------------------------------------------------

    def _target(self, annotations: Mapping[str, str]) -> Descriptor:
        """What index.json's tagged entries point at: the one image, or an image index."""
        if len(self._images) == 1:
            return self._images[0].descriptor
        images = sorted((image.descriptor for image in self._images), key=_platform_key)
        index: dict[str, object] = {"schemaVersion": 2, "mediaType": INDEX_TYPE,
                                    "manifests": [d.json() for d in images]}
        if annotations:
            index["annotations"] = dict(annotations)
        return self._json_blob(INDEX_TYPE, index)

    def _write_index(self, target: Descriptor, refs: Sequence[Tag], annotations: Mapping[str, str]) -> None:
        if self.fmt == "docker":
            # podman load reads a docker archive with one index.json entry as an oci-archive,
            # naming the image after the entry's ref.name as a full reference: here it is the
            # RepoTag, and a bare TAG (no RepoTag) leaves the entry unnamed, as docker does.
            names = [str(ref) for ref in refs if ref.name]
        else:
            names = [ref.tag for ref in refs]  # OCI ref names are tags
        entries = [replace(target, annotations=((REF_NAME, name),)).json()
                   for name in dict.fromkeys(names)] or [target.json()]
        # A directory lists the attachments' manifests too, unnamed: a pusher finds them here.
        entries += [artifact.json() for artifact in self._artifacts]
        index: dict[str, object] = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
        if annotations:
            index["annotations"] = dict(annotations)
        (self.stage / "index.json").write_bytes(_json(index))
        (self.stage / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))

    def _write_docker_manifest(self, refs: Sequence[Tag]) -> None:
        """docker save's manifest.json; a bare TAG names no repository, so it is no RepoTag
        (the image then loads untagged, by its ID)."""
        image = self._images[0]
        entry = {"Config": f"blobs/sha256/{image.config.hex}",
                 "RepoTags": list(dict.fromkeys(str(ref) for ref in refs if ref.name)),
                 "Layers": [f"blobs/sha256/{layer.hex}" for layer in image.layers]}
        (self.stage / "manifest.json").write_bytes(_json([entry]))

    def _settle(self) -> None:
        """Fixed modes and times on everything staged: a tar of the layout is then the same
        bytes every time, and so is a directory's listing."""
        for path in sorted(self.stage.rglob("*")):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
            os.utime(path, (self._epoch, self._epoch))
        os.chmod(self.stage, 0o755)
        os.utime(self.stage, (self._epoch, self._epoch))

    def _place(self) -> None:
        self._open = False  # from here the stack's exit puts the layout in place, or removes it
        if self.archive:
            with ExitStack() as cleanup:
                cleanup.push(self._stack)  # the staged directory goes, whatever happens
                with atomic_file(self.final) as out:
                    sink = open_sink("none", out)
                    write_tar(self.stage, sink.write, overrides={}, source_date_epoch=self._epoch)
                    sink.close()
            return
        os.chmod(self.stage, 0o777 & ~umask())
        self._stack.close()  # atomic_dir renames the staged directory to `final`


_Meta = tuple[Mapping[str, FileEntry] | None, Sequence[FileEntry]]  # (overrides, devices)


def rfc3339(epoch: int) -> str:
    """`epoch` as the RFC 3339 UTC time OCI's `created` fields hold."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _selections(root: Path, layers: Sequence[Layer] | None, meta: _Meta) -> list[frozenset[bytes] | None]:
    """write_tar's `only` for each layer (None: one layer of everything). Each device node
    the packer adds from the manifests lands in exactly one layer: the first whose paths
    hold it, else the last (with its parent directories), so none is lost or doubled."""
    if layers is None:
        return [None]
    chosen = [set(layer.paths) for layer in layers]
    for node in sorted(missing_nodes(root, meta[0], meta[1])):
        holders = [i for i, paths in enumerate(chosen) if node in paths]
        for i in holders[1:]:
            chosen[i].discard(node)
        if not holders:
            chosen[-1] |= with_parents([node])
    return [frozenset(paths) for paths in chosen]


def _config(platform: Platform, spec: ImageSpec, created: str, diff_ids: list[str],
            names: list[str]) -> dict[str, object]:
    """The image config: platform, the non-empty fields of `spec`, one history entry per
    layer (its name, when split, as the comment)."""
    fields: list[tuple[str, object]] = [
        ("Cmd", list(spec.cmd)), ("Entrypoint", list(spec.entrypoint)), ("Env", list(spec.env)),
        ("WorkingDir", spec.workdir), ("User", spec.user), ("Labels", dict(spec.labels))]
    history = [{"created": created, "created_by": CREATOR, **({"comment": name} if name else {})}
               for name in names]
    return {**platform.json(), "created": created, "config": {key: value for key, value in fields if value},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}


def _refs(tags: Sequence[str]) -> list[Tag]:
    """The tags as given, each once; none: "latest"."""
    return list(dict.fromkeys(parse_tag(text) for text in tags)) or [Tag("", "latest")]


def _platform_key(descriptor: Descriptor) -> tuple[str, str, str]:
    return descriptor.platform.key() if descriptor.platform is not None else ("", "", "")


def _json(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
