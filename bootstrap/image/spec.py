"""What an image says besides its layers: the platform, the config's user-facing part, files
that travel with it, and the OCI descriptors that tie blobs together.

Everything here is data: frozen dataclasses of tuples, so a spec can be compared, hashed and
kept in a lock; `Descriptor.json` gives the OCI form (keys sorted when dumped).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bootstrap.errors import UsageError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# An OCI tag (and so a ref name here) and a docker repository name, as the distribution spec
# and docker's reference grammar say them.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")


@dataclass(frozen=True)
class Platform:
    """An image's platform in OCI's words: GOARCH `architecture`, its `variant` ("" for none)."""

    architecture: str
    variant: str = ""
    os: str = "linux"

    def json(self) -> dict[str, object]:
        """The OCI `platform` object (no `variant` key when there is none)."""
        found: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            found["variant"] = self.variant
        return found

    def key(self) -> tuple[str, str, str]:
        """The order of an image index's manifests."""
        return (self.os, self.architecture, self.variant)

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


@dataclass(frozen=True)
class ImageSpec:
    """The image config's user-facing part and the image manifest's annotations. Empty
    fields are left out of the config; `env` is KEY=VALUE words (see `with_env`)."""

    cmd: tuple[str, ...] = ("/bin/sh",)
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = (DEFAULT_PATH,)
    workdir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # config.Labels
    annotations: tuple[tuple[str, str], ...] = ()  # the image manifest's annotations


@dataclass(frozen=True)
class Attachment:
    """A file that travels with one image as an OCI 1.1 artifact whose subject is that image's
    manifest. The image manifest's annotation `annotation` holds the digest of `data`'s blob
    ("sha256:..."), so a reader of the image finds it without the referrers API; `title` is
    the blob's org.opencontainers.image.title ("" for none)."""

    artifact_type: str
    media_type: str
    data: bytes
    annotation: str
    title: str = ""


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what points at a blob."""

    media_type: str
    digest: str  # sha256:HEX
    size: int
    platform: Platform | None = None
    artifact_type: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    def json(self) -> dict[str, object]:
        """The OCI form (optional fields only when set)."""
        found: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            found["platform"] = self.platform.json()
        if self.artifact_type:
            found["artifactType"] = self.artifact_type
        if self.annotations:
            found["annotations"] = dict(self.annotations)
        return found

    @property
    def hex(self) -> str:
        """The digest without its algorithm: the blob's file name under blobs/sha256/."""
        return self.digest.removeprefix("sha256:")


@dataclass(frozen=True)
class Tag:
    """One `--tag`: `NAME:TAG`, or a bare `TAG` (name "")."""

    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}" if self.name else self.tag


def parse_tag(text: str) -> Tag:
    """`NAME:TAG` or `TAG` (a `NAME` without a tag is NAME:latest, as docker reads it); a
    registry port (`host:5000/name:tag`) is part of NAME. UsageError for anything else."""
    head, slash, last = text.rpartition("/")
    name, colon, tag = last.rpartition(":")
    if colon:
        name = head + slash + name
    else:
        name, tag = (text, "latest") if slash else ("", last)
    if not _TAG.fullmatch(tag) or ((colon or slash) and not _NAME.fullmatch(name)):
        raise UsageError(f"bad image tag {text!r}",
                         hint="give NAME:TAG (lower-case name) or TAG ([A-Za-z0-9_.-], at most 128)")
    return Tag(name, tag)


def with_env(env: Sequence[str], more: Sequence[str]) -> tuple[str, ...]:
    """`env` with each KEY=VALUE of `more` added, or replacing the entry of the same KEY in
    place (`--env PATH=...` replaces the default PATH where it stands); order is otherwise
    kept, later words winning. UsageError for a word without KEY=."""
    found = list(env)
    for word in more:
        key, eq, _ = word.partition("=")
        if not key or not eq:
            raise UsageError(f"bad environment word {word!r}", hint="give KEY=VALUE")
        at = next((i for i, old in enumerate(found) if old.partition("=")[0] == key), None)
        if at is None:
            found.append(word)
        else:
            found[at] = word
    return tuple(found)
