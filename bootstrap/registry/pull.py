"""Reading a published image back (what `refresh --from` needs): its manifests and blobs.

Contract:
- `read_image(client, ref)` gives the manifest `ref` names (exact bytes, media type, digest,
  checked) and its images: the manifest itself when it is an image manifest, else each child
  image manifest of the index, with the platform its index entry gives and its parsed JSON.
  Children that are no image (a nested index, an attestation under the `unknown/unknown`
  platform) are passed over with a debug line.
- `read_blob(client, repo, digest, max_size)` gives a blob's bytes, checked against its digest.
- A missing manifest, a document that is not JSON, a media type that is no manifest: a
  RegistryError of one line.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bootstrap.errors import RegistryError
from bootstrap.registry.client import Manifest, RegistryClient
from bootstrap.registry.media import IMAGE_TYPES, INDEX_TYPES
from bootstrap.registry.reference import Reference

MAX_BLOB = 64 << 20  # configs, locks, SBOMs: documents, never layers


@dataclass(frozen=True)
class RemoteManifest:
    """One image manifest of a published image: bytes, media type, digest, its parsed JSON
    and the platform its index entry names ({} when the image is no index's child)."""

    digest: str
    media_type: str
    body: bytes
    json: Mapping[str, Any]
    platform: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteImage:
    """The manifest a reference names (`manifest`) and the image manifests under it."""

    ref: Reference
    manifest: Manifest
    images: tuple[RemoteManifest, ...]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def is_index(self) -> bool:
        return self.manifest.media_type in INDEX_TYPES


def read_image(client: RegistryClient, ref: Reference) -> RemoteImage:
    """See the module docstring."""
    repo = ref.repository
    top = client.get_manifest(repo, ref.reference)
    document = _parsed(client, repo, top)
    if top.media_type in IMAGE_TYPES:
        return RemoteImage(ref, top, (RemoteManifest(top.digest, top.media_type, top.body, document),))
    if top.media_type not in INDEX_TYPES:
        raise RegistryError(f"registry {client.registry}: {ref} is a {top.media_type or 'document of no media type'}, "
                            "not an image or image index")
    images: list[RemoteManifest] = []
    for entry in document.get("manifests") or ():
        platform = entry.get("platform") if isinstance(entry, dict) else None
        platform = platform if isinstance(platform, dict) else {}
        digest = str(entry.get("digest", "")) if isinstance(entry, dict) else ""
        if (platform.get("os"), platform.get("architecture")) == ("unknown", "unknown"):
            client.log(f"registry: {ref}: {digest} is an attestation (platform unknown/unknown): passed over")
            continue
        child = client.get_manifest(repo, digest)
        if child.media_type not in IMAGE_TYPES:
            client.log(f"registry: {ref}: {digest} is a {child.media_type}, no image: passed over")
            continue
        images.append(RemoteManifest(child.digest, child.media_type, child.body, _parsed(client, repo, child),
                                     platform))
    if not images:
        raise RegistryError(f"registry {client.registry}: the index {ref} lists no image manifest")
    return RemoteImage(ref, top, tuple(images))


def read_blob(client: RegistryClient, repo: str, digest: str, max_size: int = MAX_BLOB) -> bytes:
    """See the module docstring."""
    return client.get_blob(repo, digest, max_size)


def _parsed(client: RegistryClient, repo: str, manifest: Manifest) -> dict[str, Any]:
    try:
        document = json.loads(manifest.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise RegistryError(f"registry {client.registry}: manifest {manifest.digest} of {repo} is not a JSON object")
    return document
