"""A client of the OCI distribution API: pushing an image layout (attachments and their
referrers included) and reading a published image back.

- `reference`: `parse_reference` → `Reference` (registry, repository, tag, digest).
- `auth`: credentials from the files podman and docker write, in podman's order.
- `client`: `RegistryClient` — blob_exists, mount_blob, upload_blob (chunked, resumable),
  put_manifest, get_manifest / find_manifest, get_blob; `transport` under it: scheme and the
  insecure fallback, Basic and Bearer authentication, retries, one-line errors.
- `push`: `push_layout` → `PushResult`; `pull`: `read_image` → `RemoteImage`, `read_blob`.

Why no client library: the Python client the OCI community maintains, oras-py (PyPI `oras`
0.2.43, read from its wheel), lacks what a nightly CI push needs here. It has no
cross-repository mount. It
reads only ~/.docker/config.json and paths the caller lists, merged into one dict (so not
podman's order, nor $REGISTRY_AUTH_FILE or containers/auth.json), and never an
`identitytoken`. Its chunked upload resends a failed PATCH as it was, after 2 + 3**n seconds,
without asking the registry what it holds (Debian's registry, distribution 2.8, appends what
any PATCH brings and drops an upload whose state went stale, so such a retry cannot go on).
Its `insecure` means plain HTTP, with no HTTPS-without-verification first. It knows nothing of
the referrers tag schema, and its manifest upload re-serialises a dict (other bytes, so
another digest than the layout's) under one fixed media type, the image manifest's (no image
index as it is). Its errors are ValueErrors and log lines, not one line naming the
registry. What it does well (challenge parsing, the token GET) is the small part; the
distribution API itself is a handful of requests, which `requests` makes plainly. skopeo (a
host tool) would copy the layout but gives no per-blob counts, no referrers fallback
(1.9), and would make publishing depend on a binary where the rest of the tool runs
in-process.
"""
from __future__ import annotations

from bootstrap.registry.auth import Credentials, auth_files, find_credentials
from bootstrap.registry.client import Manifest, PutResult, RegistryClient
from bootstrap.registry.media import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_TYPES,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    sha256_digest,
)
from bootstrap.registry.pull import RemoteImage, RemoteManifest, read_blob, read_image
from bootstrap.registry.push import PushResult, push_layout, referrers_tag
from bootstrap.registry.reference import Reference, api_host, parse_reference

__all__ = [
    "DOCKER_LIST", "DOCKER_MANIFEST", "MANIFEST_TYPES", "OCI_EMPTY", "OCI_INDEX", "OCI_MANIFEST",
    "Credentials", "Manifest", "PushResult", "PutResult", "Reference", "RegistryClient", "RemoteImage",
    "RemoteManifest", "api_host", "auth_files", "find_credentials", "parse_reference", "push_layout",
    "read_blob", "read_image", "referrers_tag", "sha256_digest",
]
