"""Reading an OCI image layout directory for a push: `oci-layout`, `index.json`, `blobs/sha256/`.

Contract:
- `Layout(path)` checks `oci-layout` and reads `index.json`; `entries` are its descriptors.
- `Layout.node(descriptor)` reads the manifest a descriptor names (checked against its digest
  and size) with everything under it: an image manifest's blobs (config, layers, and an
  artifact's `blobs`), an index's child manifests, recursively. Layers that give `urls` and
  are not in the layout (foreign layers) are left to those URLs.
- Anything missing, of the wrong size, not JSON or of another digest is a RegistryError of
  one line naming the layout ("cannot push DIR: ...").
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from bootstrap.errors import RegistryError
from bootstrap.registry.media import INDEX_TYPES, is_digest, sha256_digest

MAX_DOCUMENT = 4 << 20  # index.json and manifests: what a registry would take at most
_HINT = "the image layout is damaged or incomplete: write it again"


@dataclass(frozen=True)
class Blob:
    """A blob a manifest references, with its file in the layout."""

    digest: str
    size: int
    path: Path

    def open_at(self, offset: int) -> BinaryIO:
        """The file, positioned at `offset` (the uploader's opener)."""
        stream = open(self.path, "rb")
        stream.seek(offset)
        return stream


@dataclass(frozen=True)
class Node:
    """A manifest of the layout: its bytes, parsed document, media type, the blobs it
    references and its child manifests (an index's)."""

    digest: str
    media_type: str
    body: bytes
    document: Mapping[str, Any]
    blobs: tuple[Blob, ...] = ()
    children: tuple[Node, ...] = field(default=())

    @property
    def subject(self) -> str:
        """The digest of the manifest this one is attached to ("" when none)."""
        subject = self.document.get("subject")
        return str(subject.get("digest", "")) if isinstance(subject, dict) else ""

    def walk(self) -> Iterator[Node]:
        """This manifest's descendants, children before their parent, then itself."""
        for child in self.children:
            yield from child.walk()
        yield self


class Layout:
    """See the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        marker = self._json(path / "oci-layout", "oci-layout")
        if not isinstance(marker, dict) or not str(marker.get("imageLayoutVersion", "")).startswith("1."):
            raise self.error("oci-layout gives no imageLayoutVersion 1.x")
        index = self._json(path / "index.json", "index.json")
        entries = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.error("index.json has no \"manifests\" list")
        self.entries: Sequence[Mapping[str, Any]] = entries

    def error(self, what: str) -> RegistryError:
        return RegistryError(f"cannot push {self.path}: {what}", hint=_HINT)

    def _json(self, path: Path, what: str) -> Any:
        try:
            with open(path, "rb") as stream:
                data = stream.read(MAX_DOCUMENT + 1)
        except OSError as exc:
            raise self.error(f"cannot read {what} ({exc.strerror or exc})") from None
        if len(data) > MAX_DOCUMENT:
            raise self.error(f"{what} is larger than {MAX_DOCUMENT} bytes")
        try:
            return json.loads(data)
        except ValueError:
            raise self.error(f"{what} is not JSON") from None

    def blob(self, descriptor: Mapping[str, Any]) -> Blob:
        """The blob a descriptor names, its file checked to be there with the given size."""
        digest, size = descriptor.get("digest"), descriptor.get("size")
        if not isinstance(digest, str) or not is_digest(digest) or not isinstance(size, int) or size < 0:
            raise self.error(f"a descriptor without a sha256 digest and size: {json.dumps(descriptor)[:200]}")
        path = self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")
        try:
            found = path.stat().st_size
        except OSError:
            raise self.error(f"blob {digest} is missing") from None
        if found != size:
            raise self.error(f"blob {digest} is {found} bytes, its descriptor says {size}")
        return Blob(digest, size, path)

    def node(self, descriptor: Mapping[str, Any]) -> Node:
        """See the module docstring."""
        blob = self.blob(descriptor)
        if blob.size > MAX_DOCUMENT:
            raise self.error(f"manifest {blob.digest} is larger than {MAX_DOCUMENT} bytes")
        body = blob.path.read_bytes()
        if sha256_digest(body) != blob.digest:
            raise self.error(f"manifest {blob.digest} does not hash to its name")
        try:
            document = json.loads(body)
        except ValueError:
            raise self.error(f"manifest {blob.digest} is not JSON") from None
        if not isinstance(document, dict):
            raise self.error(f"manifest {blob.digest} is not a JSON object")
        media_type = str(document.get("mediaType") or descriptor.get("mediaType") or "")
        if not media_type:
            raise self.error(f"manifest {blob.digest} says no mediaType")
        if media_type in INDEX_TYPES or "manifests" in document:
            children = tuple(self.node(d) for d in _descriptors(document, "manifests", self))
            return Node(blob.digest, media_type, body, document, (), children)
        return Node(blob.digest, media_type, body, document, tuple(self._blobs(document)))

    def _blobs(self, document: Mapping[str, Any]) -> Iterator[Blob]:
        config = document.get("config")
        if isinstance(config, dict):
            yield self.blob(config)
        for key in ("layers", "blobs"):  # `blobs`: the artifact manifest of OCI 1.1's drafts
            for descriptor in _descriptors(document, key, self):
                if descriptor.get("urls") and not self._has(descriptor):
                    continue  # a foreign layer: pulled from its URLs, never pushed
                yield self.blob(descriptor)

    def _has(self, descriptor: Mapping[str, Any]) -> bool:
        digest = str(descriptor.get("digest", ""))
        return is_digest(digest) and (self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")).is_file()


def _descriptors(document: Mapping[str, Any], key: str, layout: Layout) -> list[Mapping[str, Any]]:
    found = document.get(key, [])
    if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
        raise layout.error(f"a manifest's {key!r} is not a list of descriptors")
    return found
