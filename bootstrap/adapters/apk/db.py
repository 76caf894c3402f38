"""apk's own database in a root, written as apk-tools 2.x writes it (database.c, apk_db_write_fdb).

`/lib/apk/db/installed` holds one stanza per package: the index fields (C P V A S I T U L o m
t c k D p i), then r: (replaces) and q: (replaces priority), then the files, grouped by
directory:

    F:<dir>            every directory the package owns, in the order it was unpacked
    M:uid:gid:mode     only when the directory is not root:root 0755
    R:<file name>      each file, symlink or device in that directory
    a:uid:gid:mode     only when it is not root:root 0644 (symlinks: 0777)
    Z:Q1<base64 SHA-1> content digest (symlinks: of the link target text)

uid/gid are the numbers on disk (owner names already mapped through the root's passwd/group).
`/lib/apk/db/scripts.tar` holds each package's scripts as `<P>-<V>.<C:>.<script>`;
`/lib/apk/db/triggers` one line per package with triggers: `<C:> <glob> <glob>...`.

Merging with an existing database (a minirootfs): stanzas of packages not installed again are
kept byte for byte, except that paths a newly installed package now owns are taken out of them
(apk moves ownership the same way when a package replaces another's files).
"""
from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import FileEntry

# apk-tools' database files, root-relative.
INSTALLED = "lib/apk/db/installed"
SCRIPTS = "lib/apk/db/scripts.tar"
TRIGGERS = "lib/apk/db/triggers"

# Header fields in the order apk writes them; `r`/`q` follow the index part.
HEADER_ORDER = "CPVASITULomtckDpirq"
# .PKGINFO keys → installed-database letters (lists joined with spaces).
PKGINFO_FIELDS = {"pkgname": "P", "pkgver": "V", "arch": "A", "size": "I", "pkgdesc": "T", "url": "U",
                  "license": "L", "origin": "o", "maintainer": "m", "builddate": "t", "commit": "c",
                  "provider_priority": "k", "depend": "D", "provides": "p", "install_if": "i",
                  "replaces": "r", "replaces_priority": "q"}
_DIR_ACL = (0, 0, 0o755)
_FILE_ACL = (0, 0, 0o644)


@dataclass
class DbFile:
    name: str
    lines: list[str] = field(default_factory=list)  # a:/Z: lines after R:


@dataclass
class DbDir:
    name: str
    lines: list[str] = field(default_factory=list)  # M: line if any
    files: list[DbFile] = field(default_factory=list)


@dataclass
class Stanza:
    """One package of the installed database: header lines and owned directories/files."""

    header: list[str]
    dirs: list[DbDir] = field(default_factory=list)

    @property
    def name(self) -> str:
        return next((line[2:] for line in self.header if line.startswith("P:")), "")

    def paths(self) -> set[str]:
        return {f"{d.name}/{f.name}" if d.name else f.name for d in self.dirs for f in d.files}

    def drop(self, paths: set[str]) -> None:
        for d in self.dirs:
            d.files = [f for f in d.files if (f"{d.name}/{f.name}" if d.name else f.name) not in paths]

    def format(self) -> str:
        lines = list(self.header)
        for d in self.dirs:
            lines += [f"F:{d.name}"] + d.lines
            for f in d.files:
                lines += [f"R:{f.name}"] + f.lines
        return "\n".join(lines) + "\n"


def parse_installed(text: str) -> list[Stanza]:
    """The stanzas of an existing /lib/apk/db/installed (unknown letters kept in place)."""
    stanzas: list[Stanza] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line]
        if not lines:
            continue
        stanza = Stanza([])
        for line in lines:
            key, value = line[:2], line[2:]
            if key == "F:":
                stanza.dirs.append(DbDir(value))
            elif key == "R:" and stanza.dirs:
                stanza.dirs[-1].files.append(DbFile(value))
            elif key in ("a:", "Z:") and stanza.dirs and stanza.dirs[-1].files:
                stanza.dirs[-1].files[-1].lines.append(line)
            elif key == "M:" and stanza.dirs:
                stanza.dirs[-1].lines.append(line)
            else:
                stanza.header.append(line)
        stanzas.append(stanza)
    return stanzas


def header_lines(checksum: str, pkginfo: Sequence[tuple[str, str]], file_size: int) -> list[str]:
    """The header apk writes for a package it installed from a file with this `.PKGINFO`."""
    # apk always writes the fields it always has (P V A S I T U L), even empty; the others
    # only when set.
    values: dict[str, list[str]] = {letter: [] for letter in "PVASITUL"}
    for key, value in pkginfo:
        letter = PKGINFO_FIELDS.get(key)
        if letter and value:
            values.setdefault(letter, []).append(value)
    values["C"] = [checksum]
    values["S"] = [str(file_size)]
    if values.get("t") == ["0"]:
        del values["t"]  # apk omits a zero build time
    return [f"{letter}:{' '.join(values[letter])}" for letter in HEADER_ORDER if letter in values]


def q1(data: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def _acl_line(prefix: str, entry: FileEntry, default: tuple[int, int, int]) -> list[str]:
    acl = (entry.uid, entry.gid, entry.mode & 0o7777)
    return [] if acl == default else [f"{prefix}:{acl[0]}:{acl[1]}:{acl[2]:o}"]


def file_sections(root: Root, manifest: Iterable[FileEntry],
                  digests: Mapping[str, str] | None = None) -> list[DbDir]:
    """F:/M:/R:/a:/Z: groups for what a package unpacked. A file's digest is `digests[path]`
    when given (a path whose disk holds another file: placement.Kept), else read back from
    `root` (a hard link's from the path it links to); one that cannot be read is digested as
    empty content, as when it was removed after unpacking."""
    dirs: dict[str, DbDir] = {}

    def get_dir(name: str) -> DbDir:
        if name not in dirs:
            dirs[name] = DbDir(name)
        return dirs[name]

    for entry in manifest:
        path = entry.path.strip("/")
        if path in ("", "."):
            continue
        if entry.type == "dir":
            get_dir(path).lines = _acl_line("M", entry, _DIR_ACL)
            continue
        parent, _, name = path.rpartition("/")
        lines: list[str]
        if entry.type == "symlink":
            # A symlink's mode is 0777 whatever the tar header says; it differs from the default.
            link = FileEntry(path, "symlink", 0o777, entry.uid, entry.gid, entry.mtime)
            lines = _acl_line("a", link, _FILE_ACL) + [f"Z:{q1(entry.linkname.encode())}"]
        elif digests and path in digests:
            lines = _acl_line("a", entry, _FILE_ACL) + [f"Z:{digests[path]}"]
        elif entry.type in ("file", "hardlink"):
            source = entry.linkname if entry.type == "hardlink" else path
            lines = _acl_line("a", entry, _FILE_ACL) + [f"Z:{q1(_read(root, source))}"]
        else:
            lines = _acl_line("a", entry, _FILE_ACL)
        get_dir(parent).files.append(DbFile(name, lines))
    return list(dirs.values())


def _read(root: Root, rel: str) -> bytes:
    try:
        return root.read_bytes(rel)
    except (OSError, UnpackError):  # UnpackError: a symlink loop now stands there
        return b""


def write_installed(root: Root, new: Sequence[Stanza]) -> None:
    """Merge `new` stanzas into root's installed database (see the module docstring); the
    file is replaced whole (0644, as apk writes it)."""
    existing = parse_installed(root.read_text_or(INSTALLED))
    names = {s.name for s in new}
    kept = [s for s in existing if s.name not in names]
    owned: set[str] = set()
    for stanza in reversed(new):  # later packages win a path, as apk's later install would
        stanza.drop(owned)
        owned |= stanza.paths()
    for stanza in kept:
        stanza.drop(owned)
    root.write_text(INSTALLED, "\n".join(s.format() for s in kept + list(new)) + "\n")


def _read_scripts(root: Root) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The members of root's scripts.tar with their bodies; none when it is missing or empty."""
    if not root.exists(SCRIPTS) or not root.stat(SCRIPTS).st_size:
        return []
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    with root.open_read(SCRIPTS) as handle, tarfile.open(fileobj=handle, mode="r:") as old:
        for info in old:
            body = old.extractfile(info)
            members.append((info, body.read() if body else b""))
    return members


def write_scripts(root: Root, scripts: Sequence[tuple[str, bytes, int]]) -> None:
    """Add (member name, body, mtime) to scripts.tar, keeping what is there (a member of the
    same name is replaced); the file is replaced whole."""
    members = _read_scripts(root)
    names = {name for name, _, _ in scripts}
    members = [(i, b) for i, b in members if i.name not in names]
    for name, body, mtime in scripts:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.uname, info.gname = len(body), 0o755, mtime, "root", "root"
        members.append((info, body))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, body in members:
            tar.addfile(info, io.BytesIO(body))
    root.write_bytes(SCRIPTS, buf.getvalue())


def write_triggers(root: Root, triggers: Sequence[tuple[str, str]]) -> None:
    """Add `(checksum, globs)` lines to /lib/apk/db/triggers, replacing a package's old line."""
    lines = root.read_text_or(TRIGGERS).splitlines()
    new = {checksum: globs for checksum, globs in triggers}
    lines = [line for line in lines if line.split(" ", 1)[0] not in new and line.strip()]
    lines += [f"{checksum} {globs}" for checksum, globs in triggers]
    root.write_text(TRIGGERS, "".join(line + "\n" for line in lines))
