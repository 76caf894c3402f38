"""Image references as docker, podman and skopeo read them: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.

Contract of `parse_reference(text)`:
- The first path component is the registry when it has a `.` or a `:` (a port), is
  `localhost`, or is a bracketed IPv6 address; otherwise the registry is `docker.io`, and a
  one-component repository there is an official image under `library/` (`debian:12` is
  `docker.io/library/debian:12`).
- The repository is lowercase path components (`[a-z0-9]` runs joined by `.`, `_`, `__` or
  dashes), the tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, the digest `sha256:` and 64 lowercase
  hex digits (the only algorithm the client can verify).
- With neither tag nor digest the tag is `latest`; with a digest only, the tag is empty.
- Anything else is a UsageError of one line naming the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bootstrap.errors import UsageError

DOCKER_HUB = "docker.io"
# docker.io names the Hub for people; its API answers at another host.
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?")
_HINT = "write it as REGISTRY/REPOSITORY:TAG (e.g. 127.0.0.1:5000/base/debian:bookworm) or @sha256:DIGEST"


@dataclass(frozen=True)
class Reference:
    """One image reference, normalised: `registry` as given (`docker.io` for the Hub),
    `repository` without the registry, `tag` ("" when only a digest was given) and `digest`
    ("" when none was)."""

    registry: str
    repository: str
    tag: str = DEFAULT_TAG
    digest: str = ""

    @property
    def api_host(self) -> str:
        """The host (and port) the distribution API answers at."""
        return api_host(self.registry)

    @property
    def name(self) -> str:
        """`registry/repository`, the image's name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the manifest is fetched by: the digest when given, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def api_host(registry: str) -> str:
    """The API host of a registry name (the Hub's differs from its name)."""
    return DOCKER_HUB_API if registry in (DOCKER_HUB, "index.docker.io") else registry


def parse_reference(text: str) -> Reference:
    """See the module docstring."""
    rest, digest = text, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise UsageError(f"image reference {text!r}: {digest!r} is not a sha256 digest", hint=_HINT)
    registry, path = _split_registry(rest, text)
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise UsageError(f"image reference {text!r}: {tag!r} is not a valid tag", hint=_HINT)
    if not path or not all(_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise UsageError(f"image reference {text!r}: {path!r} is not a valid repository name "
                         "(lowercase letters, digits and . _ - between them)", hint=_HINT)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"  # the Hub's official images
    if len(path) > 255:
        raise UsageError(f"image reference {text!r}: the repository name is longer than 255 characters")
    return Reference(registry, path, tag or ("" if digest else DEFAULT_TAG), digest)


def _split_registry(rest: str, text: str) -> tuple[str, str]:
    """(registry, the path after it); the registry is docker.io when the first component
    does not look like a host."""
    if not rest:
        raise UsageError("an empty image reference", hint=_HINT)
    first, slash, path = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST.fullmatch(first):
            raise UsageError(f"image reference {text!r}: {first!r} is not a registry host[:port]", hint=_HINT)
        if first == "index.docker.io":
            first = DOCKER_HUB
        return first, path
    return DOCKER_HUB, rest
