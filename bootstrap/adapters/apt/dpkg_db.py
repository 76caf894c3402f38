"""dpkg's database in a root being built: the skeleton, package registration, cleanup.

The files written here are the ones `dpkg --unpack` would leave (tests/apt/test_dpkg_db.py
diffs them against real dpkg): var/lib/dpkg/status stanzas in dpkg's own field order,
info/<pkg>.list (every archive path, "/." first, in archive order), info/<pkg>.md5sums, the
maintainer scripts and other control members, and the trigger interest database
(triggers/File, triggers/<name>). Every file is read and written through the `Root` handle,
so a symlink in the tree never leads outside it, and each write is atomic (dpkg's readers
never see half a status file after a Ctrl-C). Running the maintainer scripts is scripts.py's
job; `configure` is re-exported from there.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterable, Sequence

from bootstrap.adapters import Installed
from bootstrap.adapters.apt.control import ADMIN, control_list, info_name
from bootstrap.adapters.apt.scripts import configure
from bootstrap.adapters.apt.status import parse_conffiles, stanza_map, status_stanza
from bootstrap.errors import ConfigureError
from bootstrap.root import Root
from bootstrap.types import FileEntry

__all__ = ["cleanup", "configure", "info_name", "prepare_root", "register"]

STATUS = f"{ADMIN}/status"
# debootstrap's setup_merged_usr table: the extra lib* directories each architecture's
# toolchain uses (amd64's ld.so lives in /lib64, i386's multilib in /lib64 and /libx32...).
_LIB_LINKS = {
    "amd64": ("lib32", "lib64", "libx32"), "i386": ("lib64", "libx32"),
    "mips": ("lib32", "lib64"), "mipsel": ("lib32", "lib64"),
    "mips64": ("lib32", "lib64", "libo32"), "mips64el": ("lib32", "lib64", "libo32"),
    "loong64": ("lib32", "lib64"), "powerpc": ("lib64",), "ppc64": ("lib32", "lib64"),
    "ppc64el": ("lib64",), "s390x": ("lib32",), "sparc": ("lib64",),
    "sparc64": ("lib32", "lib64"), "x32": ("lib32", "lib64", "libx32"),
}
_HOST_ARCH = {"x86_64": "amd64", "i686": "i386", "i386": "i386", "aarch64": "arm64",
              "armv7l": "armhf", "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}
_SCRIPTS = frozenset(("preinst", "postinst", "prerm", "postrm", "config"))
# Control members dpkg does not copy into info/: the control file becomes the status stanza.
_NOT_INFO = frozenset(("control",))


def prepare_root(root: Root, *, merged_usr: bool = True, arch: str | None = None) -> None:
    """dpkg's database skeleton and, for merged-/usr releases, debootstrap's directory links
    (bin, sbin, lib and the architecture's lib32/lib64/libx32 → usr/...). `arch` picks those
    lib* links; None means the host's architecture (the usual native build).

    Idempotent; an existing file or link is left alone.
    """
    for sub in ("info", "updates", "triggers", "alternatives", "parts"):
        _ensure_dir(root, f"{ADMIN}/{sub}")
    for name in ("status", "available", "diversions", "statoverride", "triggers/Unincorp"):
        if not root.exists(f"{ADMIN}/{name}"):
            root.touch(f"{ADMIN}/{name}", mode=0o644)
    if not root.exists(f"{ADMIN}/info/format"):
        # The multiarch info layout (<pkg>:<arch>.list for Multi-Arch: same): without this
        # file dpkg 1.16+ would try to upgrade a layout that is already upgraded.
        root.write_text(f"{ADMIN}/info/format", "1\n")
    _ensure_dir(root, "tmp")
    root.chmod("tmp", 0o1777)  # an existing /tmp too: every user must be able to write there
    if merged_usr:
        arch = arch or _HOST_ARCH.get(os.uname().machine, "")
        for name in ("bin", "sbin", "lib", *_LIB_LINKS.get(arch, ())):
            if not root.lexists(name):
                _ensure_dir(root, f"usr/{name}")
                root.symlink(f"usr/{name}", name)


def _ensure_dir(root: Root, rel: str) -> None:
    """`rel` is a directory (a symlink to one counts), made 0755 with its parents if missing."""
    if not root.is_dir(rel):
        root.mkdir(rel)


def register(root: Root, installed: Sequence[Installed], arch: str, *,
             status: str = "install ok unpacked") -> None:
    """Write dpkg's database for `installed` (their files already in the root).

    Stanzas of packages already in the status file and not in `installed` are kept; the
    file is sorted by name then architecture, as dpkg writes it. `arch` is the native
    architecture (it decides which names need a `:arch` in the trigger database). A
    malformed status or control file raises ConfigureError (status.parse_control).
    """
    if not root.is_dir(f"{ADMIN}/info"):
        prepare_root(root, merged_usr=False)
    stanzas = dict(stanza_map(root.read_text_or(STATUS)))
    for item, gone in zip(installed, _taken_over(installed), strict=True):
        stanzas.pop(item.package.name, None)
        stanzas.pop(f"{item.package.name}:{item.package.arch}", None)
        stanzas[_key(item)] = _stanza(root, item, status, gone)
        _write_info(root, item, gone)
    _write_triggers(root, installed, arch)
    ordered = sorted(stanzas.items(), key=lambda kv: tuple(kv[0].split(":", 1) + [""])[:2])
    root.write_text(STATUS, "".join(text for _, text in ordered))


def _taken_over(installed: Sequence[Installed]) -> list[set[str]]:
    """For each item, the non-directory paths of its own (in its manifest, or conffiles) that
    another item has at the end: the last item whose manifest has a path owns it (a later one
    took it over by `Replaces`, or kept it from this one: adapters/apt/overwrite.py). dpkg
    drops such paths from the package's file list and marks such conffiles obsolete."""
    last: dict[str, int] = {}
    for index, item in enumerate(installed):
        for entry in item.manifest:
            if entry.type != "dir":
                last[entry.path.strip("/")] = index
    gone = []
    for index, item in enumerate(installed):
        conffiles = parse_conffiles(item.control.get("conffiles", b"").decode("utf-8", "replace"))
        mine = {e.path.strip("/") for e in item.manifest if e.type != "dir"} | {p.strip("/") for p, _ in conffiles}
        gone.append({path for path in mine if last.get(path, index) != index})
    return gone


def _key(item: Installed) -> str:
    name = info_name(item)
    return name if ":" in name else item.package.name


def _stanza(root: Root, item: Installed, status: str, gone: Collection[str] = ()) -> str:
    """The status stanza; a conffile another package took over (`gone`) is `obsolete`, with
    the hash it had when that happened: `newconffile`, the package being only unpacked."""
    conffiles = []
    for path, flags in parse_conffiles(item.control.get("conffiles", b"").decode("utf-8", "replace")):
        if path.strip("/") in gone:
            conffiles.append((path, "newconffile", " ".join(["obsolete", *flags.split()])))
        else:
            conffiles.append((path, _md5_on_disk(root, path), flags))
    return status_stanza(control_list(item), status, conffiles)


def _md5_on_disk(root: Root, path: str) -> str:
    """The md5 dpkg records for a conffile: of the file as installed (symlinks followed
    inside the root). dpkg writes `newconffile` while the file still sits at .dpkg-new; ours
    sits at its real path, and a `newconffile` there would stay in the database forever (dpkg
    --configure only rehashes when it renames a .dpkg-new)."""
    if not root.is_file(path):
        return "newconffile"
    digest = hashlib.md5()
    with root.open_read(path) as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_info(root: Root, item: Installed, gone: Collection[str] = ()) -> None:
    info = f"{ADMIN}/info"
    stem = info_name(item)
    for member, data in item.control.items():
        if member in _NOT_INFO or "/" in member or member.startswith("."):
            continue
        root.write_bytes(f"{info}/{stem}.{member}", data, mode=0o755 if member in _SCRIPTS else 0o644)
    lines = ["/." if e.path in (".", "") else "/" + e.path.strip("/") for e in item.manifest
             if e.path.strip("/") not in gone]
    if "/." not in lines:
        lines.insert(0, "/.")
    root.write_text(f"{info}/{stem}.list", "".join(f"{line}\n" for line in lines))
    if "md5sums" not in item.control:
        # dpkg computes md5sums for packages that ship none; the manifest has sha256 only,
        # so hash the installed files again (rare: every Debian package ships md5sums).
        root.write_text(f"{info}/{stem}.md5sums", md5sums(root, item.manifest))


def md5sums(root: Root, manifest: Iterable[FileEntry]) -> str:
    """The md5sums dpkg writes for a package that ships none: every regular file it unpacked
    (conffiles too), as `<md5>  <path>` lines, hashed from `root` (so, right after the
    unpack, before a later package replaces one)."""
    out = []
    for entry in manifest:
        if entry.type == "file":
            out.append(f"{_md5_on_disk(root, entry.path)}  {entry.path.strip('/')}\n")
    return "".join(out)


def _trigger_name(item: Installed, arch: str) -> str:
    """dpkg's "non-ambiguous" name: `:arch` for Multi-Arch: same or a foreign architecture."""
    name = info_name(item)
    if ":" not in name and item.package.arch not in (arch, "all"):
        name = f"{item.package.name}:{item.package.arch}"
    return name


def _write_triggers(root: Root, installed: Sequence[Installed], arch: str) -> None:
    """Add the `interest` lines of each package's triggers file to dpkg's interest database,
    as dpkg --unpack does (replacing any older lines of the same packages)."""
    trigdir = f"{ADMIN}/triggers"
    names = {_trigger_name(item, arch) for item in installed}
    file_lines = [line for line in _read_lines(root, f"{trigdir}/File")
                  if line.split(" ")[-1].split("/")[0] not in names]
    explicit: dict[str, list[str]] = {}
    for item in installed:
        who = _trigger_name(item, arch)
        for kind, trigger in _interests(item.control.get("triggers", b"")):
            suffix = "/noawait" if kind == "interest-noawait" else ""
            if trigger.startswith("/"):
                file_lines.append(f"{trigger} {who}{suffix}")
            else:
                explicit.setdefault(trigger, []).append(f"{who}{suffix}")
    if file_lines:
        root.write_text(f"{trigdir}/File", "".join(f"{line}\n" for line in file_lines))
    for trigger, wanted in explicit.items():
        # dpkg's rule (printable ASCII, no space) and a file name's length; a NUL or 300
        # characters would otherwise fail as ValueError/OSError when the file is written.
        if "/" in trigger or trigger.startswith(".") or len(trigger) > 200 \
                or not all(" " < c < "\x7f" for c in trigger):
            raise ConfigureError(f"trigger name {trigger[:80]!r} is not valid",
                                 hint="a package's triggers control file is malformed")
        old = [w for w in _read_lines(root, f"{trigdir}/{trigger}") if w.split("/")[0] not in names]
        root.write_text(f"{trigdir}/{trigger}", "".join(f"{w}\n" for w in old + wanted))
    root.touch(f"{trigdir}/Unincorp")


def _interests(data: bytes) -> Iterable[tuple[str, str]]:
    for line in data.decode("utf-8", "replace").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in ("interest", "interest-await", "interest-noawait"):
            yield words[0], words[1]


def _read_lines(root: Root, rel: str) -> list[str]:
    return root.read_text_or(rel).splitlines()


def cleanup(root: Root) -> None:
    """What the build leaves that an image must not carry (mmdebstrap's cleanup phase):
    apt's lists and caches, the build's logs, *-old backups. The family-neutral rest
    (machine-id, /tmp, /run, ldconfig's aux-cache) is bootstrap.scrub's; /etc/resolv.conf is
    the ChrootRunner's: it puts back exactly what was there before it ran."""
    _empty_files(root, "var/lib/apt/lists", keep=("lock",))
    _empty_files(root, "var/cache/apt", pattern="*.bin")
    _empty_files(root, "var/cache/apt/archives", pattern="*.deb")
    _empty_files(root, "var/cache/apt/archives/partial")
    for name in ("var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
                 "var/log/apt/history.log", "var/log/apt/term.log", "var/log/apt/eipp.log.xz"):
        root.unlink(name)
    for pattern in ("var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for rel in root.glob(pattern):
            root.unlink(rel)


def _empty_files(root: Root, directory: str, pattern: str = "*", keep: Sequence[str] = ()) -> None:
    """Delete the regular files (and symlinks) directly in `directory` matching `pattern`."""
    if not root.is_dir(directory) or root.is_symlink(directory):
        return
    for rel in root.glob(f"{directory}/{pattern}"):
        if rel.rsplit("/", 1)[-1] not in keep and (root.is_symlink(rel) or root.is_file(rel)):
            root.unlink(rel)
