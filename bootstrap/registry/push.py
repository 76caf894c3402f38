"""Pushing an OCI image layout to a registry, attachments and their referrers included.

Contract of `push_layout(layout_dir, ref, client, *, log, mount_from="")`:
- The image pushed is the index.json entry whose `org.opencontainers.image.ref.name` is
  `ref.tag` (or, for a digest-only reference, whose digest is `ref.digest`), else the only
  entry that is not an attachment; an image manifest, or an image index whose child manifests
  are in blobs/.
- Every blob referenced (configs, layers, the children's) is asked for first (HEAD): one the
  repository holds is not sent (`present`); else, with `mount_from` (another repository of
  the same registry), it is mounted from there (`mounted`); else uploaded (`uploaded`). Each
  blob counts once.
- Then the child manifests by digest, then the image under `ref.tag` (under its digest for a
  digest-only reference, which must be the image's).
- Then every index.json entry whose manifest's `subject` is a manifest pushed (an
  attachment: a lock file, an SBOM; an attachment's attachment too), by digest, with its
  blobs. When the registry's answer carries no `OCI-Subject` (it keeps no referrers, as
  distribution 2.8), the OCI 1.1 referrers tag schema is kept instead: the tag
  `sha256-<hex of the subject>` holds an image index of the subject's referrers, read first
  and added to (one entry per digest, sorted by digest); nothing is put when it already
  lists them all.
- Returns the image's digest and media type and the blob counts.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.errors import RegistryError
from bootstrap.registry.client import PutResult, RegistryClient
from bootstrap.registry.layout import Blob, Layout, Node
from bootstrap.registry.media import INDEX_TYPES, OCI_INDEX, REF_NAME
from bootstrap.registry.reference import Reference

Log = Callable[[str], None]


@dataclass(frozen=True)
class PushResult:
    """A push's outcome: the image's manifest digest and media type, how many blobs were
    uploaded, already present or mounted, and the digests of the attachments pushed."""

    digest: str
    media_type: str
    uploaded: int
    present: int
    mounted: int
    attachments: tuple[str, ...] = ()


def _quiet(line: str) -> None:
    pass


def push_layout(layout_dir: Path, ref: Reference, client: RegistryClient, *, log: Log = _quiet,
                mount_from: str = "") -> PushResult:
    """See the module docstring."""
    layout = Layout(layout_dir)
    nodes = [layout.node(entry) for entry in layout.entries]
    top = _top(layout, nodes, ref)
    attached = _attachments(nodes, {n.digest for n in top.walk()})
    repo = ref.repository
    counts = _push_blobs(client, repo, _blobs([top, *attached]), mount_from, log)
    for child in list(top.walk())[:-1]:
        _put(client, repo, child.digest, child)
    reference = ref.tag or top.digest
    if ref.digest and ref.digest != top.digest:
        raise RegistryError(f"cannot push {layout_dir} as {ref}: the image there is {top.digest}",
                            hint="give the reference by tag, or with the image's own digest")
    _put(client, repo, reference, top)
    log(f"registry: {ref.registry}/{repo}:{reference} is {top.digest}")
    unlisted: dict[str, list[Node]] = {}
    for node in attached:
        if not _put(client, repo, node.digest, node).subject:
            unlisted.setdefault(node.subject, []).append(node)
    for subject, referrers in unlisted.items():
        _referrers_tag(client, repo, subject, referrers, log)
    return PushResult(top.digest, top.media_type, *counts, attachments=tuple(n.digest for n in attached))


def _top(layout: Layout, nodes: Sequence[Node], ref: Reference) -> Node:
    """The index.json entry the reference names (see the module docstring)."""
    for entry, node in zip(layout.entries, nodes, strict=True):
        notes = entry.get("annotations")
        tagged = isinstance(notes, dict) and ref.tag and notes.get(REF_NAME) == ref.tag
        if tagged or (not ref.tag and node.digest == ref.digest):
            return node
    images = [n for n in nodes if not n.subject]
    if len(images) == 1:
        return images[0]
    tags = sorted(str((e.get("annotations") or {}).get(REF_NAME, "")) for e in layout.entries)
    raise layout.error(f"{len(images)} images in index.json ({', '.join(t for t in tags if t) or 'untagged'}) "
                       f"and none is tagged {ref.tag or ref.digest!r}")


def _attachments(nodes: Sequence[Node], pushed: set[str]) -> list[Node]:
    """The entries attached to what is pushed, and those attached to them, in index order."""
    chosen: list[Node] = []
    grew = True
    while grew:
        grew = False
        for node in nodes:
            if node.subject in pushed and node.digest not in pushed:
                chosen.append(node)
                pushed.add(node.digest)
                grew = True
    return chosen


def _blobs(nodes: Iterable[Node]) -> list[Blob]:
    """Every blob under `nodes`, each once, in the order met."""
    seen: dict[str, Blob] = {}
    for node in nodes:
        for manifest in node.walk():
            for blob in manifest.blobs:
                seen.setdefault(blob.digest, blob)
    return list(seen.values())


def _push_blobs(client: RegistryClient, repo: str, blobs: Sequence[Blob], mount_from: str,
                log: Log) -> tuple[int, int, int]:
    """(uploaded, present, mounted)."""
    uploaded = present = mounted = 0
    for blob in blobs:
        if client.blob_exists(repo, blob.digest):
            present += 1
            log(f"registry: blob {blob.digest} is there already")
        elif mount_from and client.mount_blob(repo, blob.digest, mount_from):
            mounted += 1
            log(f"registry: blob {blob.digest} mounted from {mount_from}")
        else:
            client.upload_blob(repo, blob.digest, blob.size, blob.open_at)
            uploaded += 1
            log(f"registry: blob {blob.digest} uploaded ({blob.size} bytes)")
    return uploaded, present, mounted


def _put(client: RegistryClient, repo: str, reference: str, node: Node) -> PutResult:
    result = client.put_manifest(repo, reference, node.body, node.media_type)
    if result.digest != node.digest:  # put_manifest hashes the same bytes: a bug if ever
        raise RegistryError(f"manifest {node.digest} was pushed as {result.digest}")
    return result


def referrer_descriptor(node: Node) -> dict[str, Any]:
    """A referrer's entry in a referrers index: media type, digest, size, artifact type (the
    config's media type when the manifest gives none) and the manifest's annotations."""
    document = node.document
    config = document.get("config")
    kind = document.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else None)
    entry: dict[str, Any] = {"mediaType": node.media_type, "digest": node.digest, "size": len(node.body)}
    if kind:
        entry["artifactType"] = kind
    if isinstance(document.get("annotations"), dict) and document["annotations"]:
        entry["annotations"] = document["annotations"]
    return entry


def referrers_tag(subject: str) -> str:
    """The referrers tag schema's tag for a subject digest: `sha256-<hex>`."""
    algorithm, _, hexdigest = subject.partition(":")
    return f"{algorithm}-{hexdigest}"


def _referrers_tag(client: RegistryClient, repo: str, subject: str, referrers: Sequence[Node], log: Log) -> None:
    tag = referrers_tag(subject)
    existing = client.find_manifest(repo, tag, (OCI_INDEX,))
    listed: dict[str, Mapping[str, Any]] = {}
    if existing is not None:
        document = json.loads(existing.body) if existing.media_type in INDEX_TYPES else None
        entries = document.get("manifests") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise RegistryError(f"registry {client.registry}: tag {tag} of {repo} holds a {existing.media_type}, "
                                "not the referrers index the OCI referrers tag schema keeps there",
                                hint=f"remove or move the tag {tag}: that name is the schema's")
        listed = {str(e.get("digest")): e for e in entries if isinstance(e, dict)}
    before = dict(listed)
    for node in referrers:
        listed[node.digest] = referrer_descriptor(node)
    if listed == before and existing is not None:
        log(f"registry: {repo}:{tag} lists every referrer already")
        return
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [listed[d] for d in sorted(listed)]}
    body = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    client.put_manifest(repo, tag, body, OCI_INDEX)
    log(f"registry: {repo}:{tag} lists {len(listed)} referrers of {subject}")
