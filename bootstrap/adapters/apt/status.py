"""dpkg's status stanza, written as dpkg itself writes it (pure: text in, text out).

dpkg does not copy a package's control file into /var/lib/dpkg/status: it parses it and writes
its known fields in the order of its own field table (lib/dpkg/parse.c `fieldinfos`), with
relationship fields re-formatted, then every other field in the control file's order. Writing
the same bytes keeps `dpkg --audit`, `apt-get check` and a later `dpkg --configure` byte-for-byte
happy, and a diff against a dpkg-made status shows nothing. tests/apt/test_dpkg_db.py compares this
module with real dpkg.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bootstrap.adapters.apt import deb822
from bootstrap.errors import ConfigureError

# dpkg's table order (1.21): fields written before the arbitrary ones. `Status` is ours.
_KNOWN_ORDER = (
    "Package", "Essential", "Protected", "Status", "Priority", "Section", "Installed-Size",
    "Origin", "Maintainer", "Bugs", "Architecture", "Multi-Arch", "Source", "Version",
    "Config-Version", "Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests",
    "Breaks", "Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending",
    "Triggers-Awaited",
)
_RELATION_FIELDS = frozenset(("Replaces", "Provides", "Depends", "Pre-Depends", "Recommends",
                              "Suggests", "Breaks", "Conflicts", "Enhances"))
# Fields dpkg reads from a .deb's control file but never writes to the status file: the
# archive's own (Filename, Size, MD5sum belong to the `available` file) and `Revision`, which
# dpkg folds into Version.
_DROPPED = frozenset(("Filename", "Size", "MD5sum", "MSDOS-Filename", "Revision", "Package-Revision",
                      "Package_Revision"))
_BOOLEANS = frozenset(("Essential", "Protected"))
_CANONICAL = {name.lower(): name for name in _KNOWN_ORDER + tuple(_DROPPED)}
# dpkg accepts the obsolete one-character forms and writes what they mean.
_OPERATORS = {"<<": "<<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">>", "<": "<=", ">": ">="}
_RELATION = re.compile(r"^([^\s:(]+)(?::(\S+))?\s*(?:\(\s*(<<|<=|>=|>>|<|>|=)\s*([^\s)]+)\s*\))?$")


def parse_control(text: str, *, source: str = "dpkg's status file") -> list[tuple[str, str]]:
    """The fields of the first deb822 stanza of `text` in order (a control file has exactly
    one), values with continuation lines kept (`"line1\\n line2"`) and trailing whitespace
    removed, as dpkg stores them.

    A line that is no field raises ConfigureError naming `source`: dpkg itself refuses such a
    control file or database, so a stanza silently missing a line would only fail later, in
    dpkg, further from its cause."""
    return next(deb822.stanzas(text, _bad_line(source)), [])


def _bad_line(source: str) -> deb822.BadLine:
    def error(line: str) -> ConfigureError:
        return ConfigureError(f"{source} has a malformed line {line[:60]!r} (no 'Field:')",
                              hint="the package or the root's dpkg database is corrupt")

    return error


def normalize_relations(value: str) -> str:
    """`a|b (>>1),c` → `a | b (>> 1), c`: dpkg's writing of a relationship field."""
    groups = []
    for group in value.replace("\n", " ").split(","):
        if not group.strip():
            continue
        alternatives = []
        for atom in group.split("|"):
            atom = " ".join(atom.split())
            match = _RELATION.match(atom)
            if match is None:
                alternatives.append(atom)  # dpkg would refuse it; keep what the package says
                continue
            name, arch, op, version = match.groups()
            text = name if arch is None else f"{name}:{arch}"
            if op is not None:
                text += f" ({_OPERATORS[op]} {normalize_version(version)})"
            alternatives.append(text)
        groups.append(" | ".join(alternatives))
    return ", ".join(groups)


def normalize_version(version: str) -> str:
    """dpkg drops a zero epoch unless the upstream part itself holds a colon."""
    if version.startswith("0:") and ":" not in version[2:]:
        return version[2:]
    return version


def status_stanza(control: Sequence[tuple[str, str]], status: str,
                  conffiles: Sequence[tuple[str, str, str]] = ()) -> str:
    """The status-file stanza (ending with a blank line) for one package.

    `control` is the package's control fields (parse_control), `status` the three-word Status
    value (`install ok unpacked`), `conffiles` (path, md5 or `newconffile`, flags) triples.
    """
    known: dict[str, str] = {}
    other: list[tuple[str, str]] = []
    for raw_name, value in control:
        name = _CANONICAL.get(raw_name.lower(), raw_name)
        if name in _DROPPED or name == "Status" or name == "Conffiles":
            continue
        if name in _CANONICAL.values():
            known[name] = _normalize_known(name, value)
        else:
            other.append((raw_name, value))
    known["Status"] = status
    if conffiles:
        known["Conffiles"] = "".join(
            f"\n {path} {digest}{' ' + flags if flags else ''}" for path, digest, flags in conffiles)
    lines = []
    for name in _KNOWN_ORDER:
        text = known.get(name)
        if text is None or (name in _BOOLEANS and text != "yes") \
                or (name == "Multi-Arch" and text == "no"):
            continue
        lines.append(f"{name}:{text}" if text.startswith("\n") else f"{name}: {text}")
    lines += [f"{name}: {value}" for name, value in other]
    return "\n".join(lines) + "\n\n"


def _normalize_known(name: str, value: str) -> str:
    if name in _RELATION_FIELDS:
        return normalize_relations(value)
    if name in _BOOLEANS or name == "Multi-Arch":
        return value.lower()
    if name == "Version":
        return normalize_version(value)
    return value


def parse_conffiles(text: str) -> list[tuple[str, str]]:
    """The conffiles control member as (path, flags): dpkg 1.20.1 allows a leading
    `remove-on-upgrade` flag before the path."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        path = words[-1]
        flags = " ".join(words[:-1])
        found.append((path, flags))
    return found


def stanza_map(status_text: str) -> Mapping[str, str]:
    """Status file text → {package name (arch-qualified when Multi-Arch: same): stanza text},
    used by tests and by register() to keep stanzas of packages it was not given. A malformed
    line raises ConfigureError (parse_control)."""
    found: dict[str, str] = {}
    for block in deb822.paragraphs(status_text):
        fields = dict(parse_control(block))
        if "Package" not in fields:
            continue
        key = fields["Package"]
        if fields.get("Multi-Arch") == "same":
            key = f"{key}:{fields.get('Architecture', '')}"
        found[key] = block.strip("\n") + "\n\n"
    return found
