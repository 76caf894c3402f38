"""dpkg's database in a root being built: the skeleton, package registration, cleanup.

The files written here are the ones `dpkg --unpack` would leave (tests/test_dpkg_db.py diffs
them against real dpkg): var/lib/dpkg/status stanzas in dpkg's own field order, info/<pkg>.list
(every archive path, "/." first, in archive order), info/<pkg>.md5sums, the maintainer scripts
and other control members, and the trigger interest database (triggers/File, triggers/<name>).
Running the maintainer scripts is dpkg_scripts' job; `configure` is re-exported from there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from bootstrap.adapters import Installed
from bootstrap.adapters.apt.scripts import configure, confined
from bootstrap.adapters.apt.status import parse_conffiles, parse_control, stanza_map, status_stanza
from bootstrap.errors import ConfigureError

__all__ = ["cleanup", "configure", "info_name", "prepare_root", "register"]

ADMIN = Path("var/lib/dpkg")
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


def prepare_root(root: Path, *, merged_usr: bool = True, arch: str | None = None) -> None:
    """dpkg's database skeleton and, for merged-/usr releases, debootstrap's directory links
    (bin, sbin, lib and the architecture's lib32/lib64/libx32 → usr/...). `arch` picks those
    lib* links; None means the host's architecture (the usual native build).

    Idempotent; an existing file or link is left alone.
    """
    admin = root / ADMIN
    for sub in ("info", "updates", "triggers", "alternatives", "parts"):
        (admin / sub).mkdir(parents=True, exist_ok=True)
    for name in ("status", "available", "diversions", "statoverride", "triggers/Unincorp"):
        if not (admin / name).exists():
            (admin / name).touch(mode=0o644)
    if not (admin / "info" / "format").exists():
        # The multiarch info layout (<pkg>:<arch>.list for Multi-Arch: same): without this
        # file dpkg 1.16+ would try to upgrade a layout that is already upgraded.
        (admin / "info" / "format").write_text("1\n")
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    if merged_usr:
        arch = arch or _HOST_ARCH.get(os.uname().machine, "")
        for name in ("bin", "sbin", "lib", *_LIB_LINKS.get(arch, ())):
            link = root / name
            if not os.path.lexists(link):
                (root / "usr" / name).mkdir(parents=True, exist_ok=True)
                link.symlink_to(f"usr/{name}")


def info_name(item: Installed) -> str:
    """The info/ file stem dpkg uses: `<pkg>:<arch>` for Multi-Arch: same, else `<pkg>`."""
    pkg = item.package
    multi = _control_fields(item).get("Multi-Arch", pkg.multi_arch).lower()
    return f"{pkg.name}:{pkg.arch}" if multi == "same" else pkg.name


def register(root: Path, installed: Sequence[Installed], arch: str, *,
             status: str = "install ok unpacked") -> None:
    """Write dpkg's database for `installed` (their files already in the root).

    Stanzas of packages already in the status file and not in `installed` are kept; the
    file is sorted by name then architecture, as dpkg writes it. `arch` is the native
    architecture (it decides which names need a `:arch` in the trigger database).
    """
    admin = root / ADMIN
    if not (admin / "info").is_dir():
        prepare_root(root, merged_usr=False)
    status_path = admin / "status"
    stanzas = dict(stanza_map(status_path.read_text() if status_path.exists() else ""))
    for item in installed:
        stanzas.pop(item.package.name, None)
        stanzas.pop(f"{item.package.name}:{item.package.arch}", None)
        stanzas[_key(item)] = _stanza(root, item, status)
        _write_info(root, item)
    _write_triggers(admin / "triggers", installed, arch)
    ordered = sorted(stanzas.items(), key=lambda kv: tuple(kv[0].split(":", 1) + [""])[:2])
    _atomic_write(status_path, "".join(text for _, text in ordered))


def _key(item: Installed) -> str:
    name = info_name(item)
    return name if ":" in name else item.package.name


def _control_fields(item: Installed) -> dict[str, str]:
    return dict(_control_list(item))


def _control_list(item: Installed) -> list[tuple[str, str]]:
    """The control file's fields; without one (a seeded record), the index stanza minus
    what only an index carries."""
    raw = item.control.get("control")
    if raw is not None:
        return parse_control(raw.decode("utf-8", "replace"))
    index_only = {"filename", "size", "md5sum", "sha1", "sha256", "sha512", "description-md5",
                  "tag", "task", "phased-update-percentage"}
    return [(k, v) for k, v in item.package.fields if k.lower() not in index_only]


def _stanza(root: Path, item: Installed, status: str) -> str:
    conffiles = []
    for path, flags in parse_conffiles(item.control.get("conffiles", b"").decode("utf-8", "replace")):
        conffiles.append((path, _md5_on_disk(root, path), flags))
    return status_stanza(_control_list(item), status, conffiles)


def _md5_on_disk(root: Path, path: str) -> str:
    """The md5 dpkg records for a conffile: of the file as installed (symlinks followed
    inside the root). dpkg writes `newconffile` while the file still sits at .dpkg-new; ours
    sits at its real path, and a `newconffile` there would stay in the database forever (dpkg
    --configure only rehashes when it renames a .dpkg-new)."""
    target = confined(root, path)
    if not target.is_file():
        return "newconffile"
    digest = hashlib.md5()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_info(root: Path, item: Installed) -> None:
    info = root / ADMIN / "info"
    stem = info_name(item)
    for member, data in item.control.items():
        if member in _NOT_INFO or "/" in member or member.startswith("."):
            continue
        path = info / f"{stem}.{member}"
        path.write_bytes(data)
        path.chmod(0o755 if member in _SCRIPTS else 0o644)
    lines = ["/." if e.path in (".", "") else "/" + e.path.strip("/") for e in item.manifest]
    if "/." not in lines:
        lines.insert(0, "/.")
    (info / f"{stem}.list").write_text("".join(f"{line}\n" for line in lines))
    if "md5sums" not in item.control:
        # dpkg computes md5sums for packages that ship none; the manifest has sha256 only,
        # so hash the installed files again (rare: every Debian package ships md5sums).
        (info / f"{stem}.md5sums").write_text(_md5sums(root, item))


def _md5sums(root: Path, item: Installed) -> str:
    out = []
    for entry in item.manifest:
        if entry.type == "file":
            out.append(f"{_md5_on_disk(root, entry.path)}  {entry.path.strip('/')}\n")
    return "".join(out)


def _trigger_name(item: Installed, arch: str) -> str:
    """dpkg's "non-ambiguous" name: `:arch` for Multi-Arch: same or a foreign architecture."""
    name = info_name(item)
    if ":" not in name and item.package.arch not in (arch, "all"):
        name = f"{item.package.name}:{item.package.arch}"
    return name


def _write_triggers(trigdir: Path, installed: Sequence[Installed], arch: str) -> None:
    """Add the `interest` lines of each package's triggers file to dpkg's interest database,
    as dpkg --unpack does (replacing any older lines of the same packages)."""
    names = {_trigger_name(item, arch) for item in installed}
    file_lines = [line for line in _read_lines(trigdir / "File") if line.split(" ")[-1].split("/")[0] not in names]
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
        _atomic_write(trigdir / "File", "".join(f"{line}\n" for line in file_lines))
    for trigger, wanted in explicit.items():
        if "/" in trigger or trigger.startswith("."):
            raise ConfigureError(f"trigger name {trigger!r} is not valid",
                                 hint="a package's triggers control file is malformed")
        old = [w for w in _read_lines(trigdir / trigger) if w.split("/")[0] not in names]
        _atomic_write(trigdir / trigger, "".join(f"{w}\n" for w in old + wanted))
    (trigdir / "Unincorp").touch()


def _interests(data: bytes) -> Iterable[tuple[str, str]]:
    for line in data.decode("utf-8", "replace").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in ("interest", "interest-await", "interest-noawait"):
            yield words[0], words[1]


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _atomic_write(path: Path, text: str) -> None:
    """dpkg's readers must never see half a file (a Ctrl-C mid-write)."""
    tmp = path.with_name(path.name + ".new-rootfs-bootstrap")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def cleanup(root: Path) -> None:
    """What the build leaves that an image must not carry (mmdebstrap's cleanup phase):
    apt's lists and caches, the build's logs, /tmp and /run contents, *-old backups, and an
    empty (not absent: systemd expects the file) /etc/machine-id. /etc/resolv.conf is the
    ChrootRunner's: it puts back exactly what was there before it ran."""
    _empty_files(root / "var/lib/apt/lists", keep=("lock",))
    _empty_files(root / "var/cache/apt", pattern="*.bin")
    _empty_files(root / "var/cache/apt/archives", pattern="*.deb")
    _empty_files(root / "var/cache/apt/archives/partial")
    for name in ("var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
                 "var/log/apt/history.log", "var/log/apt/term.log", "var/log/apt/eipp.log.xz",
                 "var/cache/ldconfig/aux-cache", "var/lib/dbus/machine-id"):
        (root / name).unlink(missing_ok=True)
    for pattern in ("var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for path in root.glob(pattern):
            path.unlink()
    machine_id = root / "etc/machine-id"
    if machine_id.is_file() and not machine_id.is_symlink():
        machine_id.write_bytes(b"")
    for directory, keep in ((root / "tmp", ()), (root / "run", ("lock",))):
        if directory.is_dir() and not directory.is_symlink():
            for entry in directory.iterdir():
                if entry.name in keep:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def _empty_files(directory: Path, pattern: str = "*", keep: Sequence[str] = ()) -> None:
    """Delete the regular files (and symlinks) directly in `directory` matching `pattern`."""
    if not directory.is_dir() or directory.is_symlink():
        return
    for path in directory.glob(pattern):
        if path.name not in keep and (path.is_symlink() or path.is_file()):
            path.unlink()
