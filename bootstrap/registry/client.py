"""`RegistryClient`: the distribution API operations an image push and pull need, on one
registry (transport.py has the HTTP side: scheme, authentication, retries, error lines).

Every digest is checked: a manifest or blob read by digest must hash to it, a manifest put
must be stored under the digest of its bytes, an upload must end under its digest.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from bootstrap.errors import RegistryError
from bootstrap.registry.media import MANIFEST_TYPES, is_digest, sha256_digest
from bootstrap.registry.transport import Transport, pull_scopes, push_scopes
from bootstrap.registry.upload import Opener, upload

MAX_MANIFEST = 4 << 20  # what registries accept at most (the OCI spec's floor, distribution's limit)
_DIGEST_HINT = "the registry (or something between) altered what it sent or stored"


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: its exact bytes, media type and digest."""

    body: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class PutResult:
    """What a manifest put gave: the manifest's digest and the `OCI-Subject` the registry
    answered ("" when it sent none: it keeps no referrers of its own, e.g. distribution 2.8)."""

    digest: str
    subject: str = ""


class RegistryClient(Transport):
    """One registry's API. Construction: see transport.Transport (`registry`, `insecure`,
    `credentials`, `retries`, `chunk_size`, `session`, `log`)."""

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether `repo` holds the blob (HEAD: 200 yes, 404 no, anything else an error). Asked
        with the push scope, which a push needs next anyway (a token server grants a reader
        what of it they may: pull)."""
        answer = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", repo=repo, what=f"check of blob {digest}",
                              scopes=push_scopes(repo), ok=(200, 404), retry=True)
        answer.close()
        return answer.status_code == 200

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Link the blob `from_repo` holds into `repo` without sending it (POST ?mount=&from=):
        True when the registry did (201). A 202 means it opened an upload instead (it does not
        have the blob there, or mounts nothing): that upload is cancelled and the answer False."""
        what = f"mount of blob {digest} from {from_repo}"
        answer = self.request("POST", f"/v2/{repo}/blobs/uploads/", repo=repo, what=what,
                              scopes=push_scopes(repo, from_repo), ok=(201, 202), retry=True,
                              params={"mount": digest, "from": from_repo})
        answer.close()
        if answer.status_code == 201:
            return True
        location = answer.headers.get("Location")
        if location:  # an unfinished upload holds space on the registry until it expires
            cancel = self.request("DELETE", urljoin(answer.url, location), repo=repo,
                                  what=f"cancel of the upload a {what} opened", scopes=push_scopes(repo),
                                  ok=range(200, 500))
            cancel.close()
        return False

    def upload_blob(self, repo: str, digest: str, size: int, opener: Opener) -> None:
        """Send the blob of `size` bytes that `opener(offset)` reads from `offset` on; resumable
        and chunked (see upload.py for the contract)."""
        if not is_digest(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        upload(self, repo, digest, size, opener)

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> PutResult:
        """Store a manifest under `reference` (a tag, or its own digest). The registry must store
        it under the digest of `body` (`Docker-Content-Digest`, when it says one)."""
        digest = sha256_digest(body)
        if is_digest(reference) and reference != digest:
            raise ValueError(f"manifest bytes hash to {digest}, not to the reference {reference}")
        answer = self.request("PUT", f"/v2/{repo}/manifests/{reference}", repo=repo,
                              what=f"put of manifest {reference}", scopes=push_scopes(repo), ok=(200, 201, 202),
                              retry=True, data=body, headers={"Content-Type": media_type})
        answer.close()
        said = answer.headers.get("Docker-Content-Digest")
        if said and said != digest:
            raise RegistryError(f"registry {self.registry}: manifest {reference} in {repo} was stored as {said}, "
                                f"not as {digest}", hint=_DIGEST_HINT)
        return PutResult(digest, answer.headers.get("OCI-Subject", ""))

    def find_manifest(self, repo: str, reference: str,
                      accept: Sequence[str] = MANIFEST_TYPES) -> Manifest | None:
        """The manifest under `reference`, or None when the registry has none there (404).
        Read by digest, its bytes must hash to it; read by tag, its digest is the hash of its
        bytes, and a `Docker-Content-Digest` saying otherwise is an error."""
        what = f"get of manifest {reference}"
        answer = self.request("GET", f"/v2/{repo}/manifests/{reference}", repo=repo, what=what,
                              scopes=pull_scopes(repo), ok=(200, 404), retry=True, stream=True,
                              headers={"Accept": ", ".join(accept)})
        with answer:
            if answer.status_code == 404:
                return None
            body = self._read(answer, MAX_MANIFEST, f"manifest {reference} of {repo}")
        digest = sha256_digest(body)
        said = answer.headers.get("Docker-Content-Digest", "")
        expected = reference if is_digest(reference) else said if is_digest(said) else digest
        if digest != expected:
            raise RegistryError(f"registry {self.registry}: manifest {reference} of {repo} hashes to {digest}, "
                                f"not {expected}", hint=_DIGEST_HINT)
        return Manifest(body, _media_type(answer, body), digest)

    def get_manifest(self, repo: str, reference: str, accept: Sequence[str] = MANIFEST_TYPES) -> Manifest:
        """find_manifest, but a missing manifest is a RegistryError."""
        found = self.find_manifest(repo, reference, accept)
        if found is None:
            raise RegistryError(f"registry {self.registry} has no manifest {reference} in {repo} (404)",
                                hint="check the reference: its repository, tag or digest")
        return found

    def get_blob(self, repo: str, digest: str, max_size: int) -> bytes:
        """The blob's bytes, at most `max_size` of them, checked against its sha256 digest
        (redirects to a storage host are followed, without our credentials)."""
        if not is_digest(digest):
            raise RegistryError(f"registry {self.registry}: {digest!r} in {repo} is not a sha256 digest")
        answer = self.request("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, what=f"get of blob {digest}",
                              scopes=pull_scopes(repo), ok=(200,), retry=True, stream=True,
                              headers={"Accept-Encoding": "identity"})  # the digest is of the bytes stored
        with answer:
            data = self._read(answer, max_size, f"blob {digest} of {repo}")
        if sha256_digest(data) != digest:
            raise RegistryError(f"registry {self.registry}: blob {digest} of {repo} hashes to "
                                f"{sha256_digest(data)}", hint=_DIGEST_HINT)
        return data

    def _read(self, answer: requests.Response, limit: int, what: str) -> bytes:
        """The body, refused once it passes `limit` bytes (a registry cannot make us hold more)."""
        declared = answer.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise RegistryError(f"registry {self.registry}: {what} is {declared} bytes, more than the {limit} allowed")
        parts: list[bytes] = []
        held = 0
        try:
            for part in answer.iter_content(1 << 16):
                held += len(part)
                if held > limit:
                    raise RegistryError(f"registry {self.registry}: {what} is more than the {limit} bytes allowed")
                parts.append(part)
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.registry}: reading {what} failed ({exc.__class__.__name__})",
                                hint="the connection broke: try again") from None
        return b"".join(parts)


def _media_type(answer: requests.Response, body: bytes) -> str:
    """The manifest's media type: the answer's Content-Type, else the document's mediaType."""
    given = answer.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if given and given not in ("application/json", "text/plain", "application/octet-stream"):
        return given
    try:
        document = json.loads(body)
    except ValueError:
        return given
    found = document.get("mediaType") if isinstance(document, dict) else None
    return found if isinstance(found, str) else given
