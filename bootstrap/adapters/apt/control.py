"""A package's control data as dpkg reads it, and the names dpkg files it under: what both
the database writer (dpkg_db) and the script runner (scripts) need, kept here so that neither
imports the other back."""
from __future__ import annotations

from bootstrap.adapters import Installed
from bootstrap.adapters.apt.status import parse_control

# dpkg's administrative directory, root-relative.
ADMIN = "var/lib/dpkg"
# Fields of an index stanza that a control file never carries (what an index adds).
_INDEX_ONLY = frozenset(("filename", "size", "md5sum", "sha1", "sha256", "sha512", "description-md5",
                         "tag", "task", "phased-update-percentage"))


def control_list(item: Installed) -> list[tuple[str, str]]:
    """The control file's fields in order; without one (a seeded record), the index stanza
    minus what only an index carries. A malformed control file raises ConfigureError."""
    raw = item.control.get("control")
    if raw is not None:
        return parse_control(raw.decode("utf-8", "replace"),
                             source=f"the control file of package {item.package.name}")
    return [(k, v) for k, v in item.package.fields if k.lower() not in _INDEX_ONLY]


def info_name(item: Installed) -> str:
    """The info/ file stem dpkg uses: `<pkg>:<arch>` for Multi-Arch: same, else `<pkg>`."""
    pkg = item.package
    multi = dict(control_list(item)).get("Multi-Arch", pkg.multi_arch).lower()
    return f"{pkg.name}:{pkg.arch}" if multi == "same" else pkg.name
