"""Blob uploads that survive a bad network: chunked, resumed from what the registry says it
holds, restarted when the registry dropped the upload.

Contract of `upload(transport, repo, digest, size, opener)`:
- `opener(offset)` opens the blob positioned at `offset` (it is opened again on each resume).
- A blob of at most 64 KiB (and of at most one chunk) goes first as one `POST ?digest=` with
  its bytes: a registry that takes it answers 201 and that is all. One that opens an upload
  session instead (202: distribution 2.8 drops the body) gets the chunked upload, and this
  client sends no single POST to it again.
- Otherwise: `POST` opens the session (a 201 there means the registry has the blob), `PATCH`es
  of `chunk_size` bytes carry `Content-Range: start-end` and `Content-Type:
  application/octet-stream`, each to the Location the previous answer gave, and `PUT ?digest=`
  closes it; the registry's `Docker-Content-Digest`, when given, must be the digest.
- A chunk or the closing PUT that gets no answer, a 5xx/408/429 or a 416 is a failure: after a
  backoff the blob is looked for (HEAD: a lost answer to the PUT), then the upload's status
  (GET on its Location) gives the `Range` the registry holds and the upload resumes there; a
  registry that no longer knows the upload (404/400: distribution 2.8 drops one whose state a
  lost answer made stale) gets a new one from offset 0. After `retries` failures the upload
  is a RegistryError naming the blob.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import BinaryIO
from urllib.parse import urljoin

import requests

from bootstrap.errors import RegistryError
from bootstrap.registry.transport import NoAnswer, Transport, push_scopes, transient

Opener = Callable[[int], BinaryIO]
SINGLE_POST_MAX = 64 << 10
OCTETS = "application/octet-stream"
_RANGE = re.compile(r"(?:bytes[= ])?(\d+)-(\d+)")
_ANY = range(100, 600)


class _Failed(Exception):
    """A request of the upload failed in a way worth resuming after."""


def upload(transport: Transport, repo: str, digest: str, size: int, opener: Opener) -> None:
    """See the module docstring."""
    _Upload(transport, repo, digest, size, opener).run()


class _Upload:
    def __init__(self, transport: Transport, repo: str, digest: str, size: int, opener: Opener) -> None:
        self.t, self.repo, self.digest, self.size, self.opener = transport, repo, digest, size, opener
        self.what = f"upload of blob {digest}"
        self.location = ""
        self.offset = 0  # what the registry confirmed it holds

    def run(self) -> None:
        if self._start():
            return
        failures = 0
        while True:
            try:
                if failures and self._resync():
                    return
                self._send_chunks()
                self._finish()
                return
            except _Failed as exc:
                failures += 1
                if failures > self.t.retries:
                    raise RegistryError(f"registry {self.t.registry}: {self.what} to {self.repo} failed after "
                                        f"{failures} tries ({exc})",
                                        hint="the registry or the network keeps failing: try again later") from None
                delay = self.t.backoff * (2 ** (failures - 1))
                self.t.log(f"registry: {self.what}: {exc}; resuming in {delay:.1f}s")
                self.t.sleep(delay)

    def _start(self) -> bool:
        """Open the upload (or do all of it in one POST); True when the registry has the blob."""
        single = self.t.single_post and self.size <= min(SINGLE_POST_MAX, self.t.chunk_size)
        data = self._read_all() if single else None
        response = self.t.request("POST", f"/v2/{self.repo}/blobs/uploads/", repo=self.repo, what=self.what,
                                  scopes=push_scopes(self.repo), ok=(201, 202), retry=True,
                                  params={"digest": self.digest} if single else None, data=data,
                                  headers={"Content-Type": OCTETS} if single else None)
        with response:
            if response.status_code == 201:
                self._check_digest(response)
                if single or response.headers.get("Docker-Content-Digest") == self.digest or self._exists():
                    return True
                raise RegistryError(f"registry {self.t.registry}: {self.what} to {self.repo}: the registry "
                                    "answered 201 to opening an upload, yet has no such blob")
            if single:
                self.t.single_post = False
                self.t.log(f"registry: {self.t.registry} opened a session for a single-POST upload: "
                           "chunked uploads from now on")
            self.location = self._location(response)
        self.offset = 0
        return False

    def _read_all(self) -> bytes:
        with self.opener(0) as stream:
            data = stream.read(self.size)
        if len(data) != self.size:
            raise self._short(len(data))
        return data

    def _send_chunks(self) -> None:
        with self.opener(self.offset) as stream:
            while self.offset < self.size:
                chunk = stream.read(min(self.t.chunk_size, self.size - self.offset))
                if not chunk:
                    raise self._short(self.offset)
                end = self.offset + len(chunk) - 1
                with self._call("PATCH", self.location, data=chunk,
                                headers={"Content-Type": OCTETS, "Content-Range": f"{self.offset}-{end}"}) as answer:
                    self._expect(answer, (202, 204))
                    self.location = self._location(answer, self.location)
                    held = _held(answer.headers.get("Range"), end + 1)
                    if held is not None and held != end + 1:
                        raise _Failed(f"after the chunk {self.offset}-{end} the registry holds {held} bytes")
                self.offset = end + 1

    def _finish(self) -> None:
        with self._call("PUT", self.location, params={"digest": self.digest},
                        headers={"Content-Type": OCTETS}) as answer:
            self._expect(answer, (201, 204))
            self._check_digest(answer)

    def _resync(self) -> bool:
        """After a failure: True when the registry has the whole blob; else the upload is set to
        go on from where the registry says it is (or from 0, in a new session)."""
        if self._exists():
            self.t.log(f"registry: {self.what}: the registry has it (the answer to the last request was lost)")
            return True
        with self._call("GET", self.location) as status:
            if status.status_code in (404, 400, 410):
                self.t.log(f"registry: {self.what}: the registry dropped the upload ({status.status_code}): "
                           "starting it again")
                return self._start()
            self._expect(status, (200, 204))
            held = _held(status.headers.get("Range"), self.offset)
            self.location = self._location(status, self.location)
        if held is None or held > self.size:
            self.t.log(f"registry: {self.what}: unusable upload status (Range {status.headers.get('Range')!r}): "
                       "starting again")
            return self._start()
        self.t.log(f"registry: {self.what}: resuming at byte {held} of {self.size}")
        self.offset = held
        return False

    def _exists(self) -> bool:
        """Whether the registry has the blob (HEAD, retried on its own like any idempotent request)."""
        with self.t.request("HEAD", f"/v2/{self.repo}/blobs/{self.digest}", repo=self.repo, what=self.what,
                            scopes=push_scopes(self.repo), ok=(200, 404), retry=True) as found:
            return found.status_code == 200

    def _call(self, method: str, target: str, *, data: bytes | None = None,
              headers: Mapping[str, str] | None = None,
              params: Mapping[str, str] | None = None) -> requests.Response:
        """One request of the upload; a failure worth resuming after raises _Failed."""
        try:
            response = self.t.request(method, target, repo=self.repo, what=self.what, scopes=push_scopes(self.repo),
                                      ok=_ANY, data=data, headers=headers, params=params)
        except NoAnswer as exc:
            raise _Failed(exc.message) from None
        if transient(response.status_code) or response.status_code == 416:
            response.close()
            raise _Failed(f"{method} answered HTTP {response.status_code}")
        return response

    def _expect(self, response: requests.Response, statuses: tuple[int, ...]) -> None:
        if response.status_code not in statuses:
            raise self.t.failure(response, self.what, self.repo)

    def _location(self, response: requests.Response, default: str = "") -> str:
        location = response.headers.get("Location")
        if location:
            return urljoin(response.url, location)
        if default:
            return default
        raise RegistryError(f"registry {self.t.registry}: {self.what} to {self.repo}: the registry's answer "
                            f"({response.status_code}) has no Location to go on at")

    def _check_digest(self, response: requests.Response) -> None:
        said = response.headers.get("Docker-Content-Digest")
        if said and said != self.digest:
            raise RegistryError(f"registry {self.t.registry}: {self.what} to {self.repo}: the registry stored "
                                f"{said} instead")

    def _short(self, at: int) -> RegistryError:
        return RegistryError(f"blob {self.digest} ends at byte {at}, before its size {self.size}",
                             hint="the image layout is damaged: write it again")


def _held(header: str | None, confirmed: int) -> int | None:
    """How many bytes a `Range: 0-END` says the registry holds; None when it says nothing
    usable. `0-0` reads as nothing held when nothing was confirmed yet: distribution writes it
    for an empty upload as well as for one byte."""
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None or found.group(1) != "0":
        return None
    end = int(found.group(2))
    return 0 if end == 0 and confirmed == 0 else end + 1
