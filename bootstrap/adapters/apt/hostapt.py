"""The host's own apt sources: where a Debian (or Ubuntu) mirror comes from when none is given.

Reads `/etc/apt/sources.list.d/*.sources` (deb822) and `/etc/apt/sources.list` (one-line
format) at run time, so no mirror host is ever written in this project. The host's files are
read through a `Root` handle on `/` (confining nothing, resolving as the host does), the one
way adapters list and read a tree. The deb822 files are read by the family's one deb822
reader (field names case-insensitive, as apt reads them); a line apt itself would refuse is a
ConfigError naming the file. They are read only when no mirror was given, so a host's broken
file never stops a build that names its mirror itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.adapters.apt.deb822 import stanzas
from bootstrap.errors import ConfigError
from bootstrap.root import Root

APT_ETC = Path("/etc/apt")


@dataclass(frozen=True)
class HostSource:
    """One `deb` source of the host: its URI, suites and the keyring it is signed by."""

    uri: str
    suites: tuple[str, ...]
    signed_by: str


def host_sources(etc: Path | None = None) -> list[HostSource]:
    """Every `deb` (binary) source configured on this host, in apt's reading order."""
    return _read_sources(Root("/"), str((APT_ETC if etc is None else etc).absolute()))


def _read_sources(host: Root, etc: str) -> list[HostSource]:
    sources: list[HostSource] = []
    for rel in [f"{etc}/sources.list", *host.glob(f"{etc}/sources.list.d/*.list")]:
        if host.is_file(rel):
            sources += _one_line_sources(host.read_text(rel, errors="replace"), rel)
    for rel in host.glob(f"{etc}/sources.list.d/*.sources"):
        text = host.read_text(rel, errors="replace")
        for fields in stanzas(text, _malformed(rel)):
            para = {key.lower(): value for key, value in fields}
            if "deb" not in para.get("types", "").split() or para.get("enabled", "yes") == "no":
                continue
            for uri in para.get("uris", "").split():
                sources.append(HostSource(uri, tuple(para.get("suites", "").split()),
                                          para.get("signed-by", "")))
    return sources


def _malformed(path: str) -> Callable[[str], Exception]:
    def error(line: str) -> Exception:
        return ConfigError(f"{path}: malformed line {line.strip()!r} (apt refuses it too)",
                           hint="fix the host's apt sources, or pass --mirror URL")
    return error


def _one_line_sources(text: str, path: str) -> list[HostSource]:
    """The `deb` lines of a one-line sources file; an option list `[...]` that never closes is
    a ConfigError naming `path` (apt refuses the line too)."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        options = ""
        if len(words) > 1 and words[1].startswith("["):
            end = next((i for i, w in enumerate(words) if w.endswith("]")), None)
            if end is None:
                raise _malformed(path)(line)
            options, words = " ".join(words[1:end + 1]), [words[0]] + words[end + 1:]
        if len(words) >= 3:
            found.append(HostSource(words[1], (words[2],), options))
    return found


def host_mirrors(kind: str, etc: Path | None = None) -> tuple[str | None, str | None]:
    """(archive mirror, security mirror) of the host for `kind` ("debian" or "ubuntu").

    A source counts for `kind` when its keyring or its URI names it; the security mirror is
    the one serving `*-security` suites. Either may be None.
    """
    mirror = security = None
    for source in host_sources(etc):
        if kind not in source.signed_by and kind not in source.uri:
            continue
        is_security = any(s.endswith("-security") or s.endswith("/updates") for s in source.suites)
        if is_security and security is None:
            security = source.uri
        elif not is_security and mirror is None:
            mirror = source.uri
    return mirror, security
