"""apk's protected paths (apk-tools 2.x: database.c, add_protected_path and apk_db_dir_get) and
the checksums it compares there (apk_fileinfo_get with APK_FI_NOFOLLOW).

Which directories are protected: apk starts from `+etc`, `@etc/init.d`, `!etc/apk`, then reads
every `*.list` file of the root's etc/apk/protected_paths.d, one rule a line:
`+path` (protect changes), `@path` (only symlinks), `!path` (everything), `-path` (not
protected), a bare `path` as `+`; `#` comments and empty lines are skipped, leading and trailing
slashes dropped. A rule is read one path component at a time: `etc/init.d` matches a top-level
directory named `etc` (fnmatch) and hands `init.d` on to that directory's children; a rule
without a slash sets the mode of the directory whose name it matches; the last matching rule
wins; a directory inherits its parent's mode otherwise. So protection is per directory (a
file-name rule such as `-etc/ssl/certs/*.pem` only ever matches directories), and files at the
root's top level are never protected.

When a package brings a file, apk-tools 2.12 only asks whether its directory's mode is anything
but `-`: the four modes differ for `apk audit`, not for installing (apk_db_migrate_files).

apk reads the lists once, when it opens the database, before it installs anything: a `.list`
that a package of the same transaction brings counts from the next `apk` run on. apk reads the
directory in readdir order; it is sorted here (the order only matters between lists whose rules
contradict each other).
"""
from __future__ import annotations

import base64
import hashlib
import stat
from fnmatch import fnmatchcase

from bootstrap.errors import UnpackError
from bootstrap.root import Root

LISTS = "etc/apk/protected_paths.d"
DEFAULT_RULES = "+etc\n@etc/init.d\n!etc/apk\n"
# Protection modes (apk_database.h's enum order); only NONE vs the rest matters here.
NONE, CHANGED, SYMLINKS_ONLY, ALL = 0, 1, 2, 3
_MODES = {"-": NONE, "+": CHANGED, "@": SYMLINKS_ONLY, "!": ALL}

Rule = tuple[str, int]  # (relative pattern, mode)


def parse_rules(text: str) -> list[Rule]:
    """The rules of one protected_paths list (or of apk's built-in text), in order."""
    rules: list[Rule] = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        mode = _MODES.get(line[0])
        if mode is None:
            mode = CHANGED
        else:
            line = line[1:]
        rules.append((line.strip("/"), mode))
    return rules


class ProtectedPaths:
    """Which directories of one root apk protects (see the module docstring)."""

    def __init__(self, rules: list[Rule]) -> None:
        self._rules = rules
        # directory → (its mode, the rules it hands on to its children)
        self._dirs: dict[str, tuple[int, list[Rule]]] = {}

    @classmethod
    def from_root(cls, root: Root) -> ProtectedPaths:
        """apk's built-in rules, then every `*.list` in root's etc/apk/protected_paths.d."""
        rules = parse_rules(DEFAULT_RULES)
        if root.is_dir(LISTS):
            for name in sorted(root.listdir(LISTS)):
                rel = f"{LISTS}/{name}"
                if name.endswith(".list") and root.is_file(rel):
                    rules += parse_rules(root.read_text(rel, errors="replace"))
        return cls(rules)

    def covers(self, directory: str) -> bool:
        """Whether files directly in root-relative `directory` ("" for the top level) are
        protected."""
        return self._dir(directory.strip("/"))[0] != NONE

    def _dir(self, name: str) -> tuple[int, list[Rule]]:
        found = self._dirs.get(name)
        if found is not None:
            return found
        if not name:
            found = (NONE, [])  # the root itself: no rule applies to it or through it
        else:
            parent, _, last = name.rpartition("/")
            mode, rules = self._dir(parent) if parent else (NONE, self._rules)
            handed: list[Rule] = []
            for pattern, rule_mode in rules:
                head, slash, rest = pattern.partition("/")
                if slash:
                    if fnmatchcase(last, head):
                        handed.append((rest, rule_mode))
                elif fnmatchcase(last, pattern):
                    mode = rule_mode
            found = (mode, handed)
        self._dirs[name] = found
        return found


def checksum_on_disk(root: Root, rel: str) -> str | None:
    """apk's `Q1` checksum of what stands at `rel`, never followed: a file's content, a
    symlink's target text. None when nothing is there; "?" for anything else (a directory, a
    device), which apk finds different from every checksum."""
    try:
        st = root.lstat(rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return q1(root.readlink(rel).encode("utf-8", "surrogateescape"))
    if not stat.S_ISREG(st.st_mode):
        return "?"
    digest = hashlib.sha1()
    try:
        with root.open_read(rel) as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except (OSError, UnpackError):
        return "?"
    return "Q1" + base64.b64encode(digest.digest()).decode()


def q1(data: bytes) -> str:
    """apk's `Q1` form of a SHA-1: `Q1` + base64."""
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def same_checksum(recorded: str, disk: str | None) -> bool:
    """Whether a database `Z:` value (`Q1` + base64 SHA-1; old databases: hex MD5 or SHA-1)
    names the content `checksum_on_disk` found. Only `Q1` is compared: another form counts
    as different (apk would compute that digest; no Alpine release since 2.x writes one)."""
    return bool(recorded) and recorded.startswith("Q1") and recorded == disk
