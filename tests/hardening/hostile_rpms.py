"""The hostile packages of test_hostile_yum.py, built with rpmbuild (one spec each; the ones
rpmcraft rewrites with an uncompressed `w.ufdio` payload), signed by rpmsign, indexed by
createrepo_c in a CentOS 7.2-shaped tree (`7.2.1511/os/x86_64/`).

`PLACES` are where the yum adapter writes after the unpacker (grep bootstrap/adapters/yum:
the rpmdb stage and database, the scriptlet files in tmp, the caches and logs cleanup clears),
`MOUNTS` the chroot's mount points; `RPM_PLACES` need the target's own rpm in the set, which
`fake-rpm` plays (a shell script) so that mode root goes through the staging path.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.hardening import rpmcraft
from tests.hardening.battery import reach_script
from tests.hardening.rpmcraft import CpioEntry
from tests.yum.yumrepo import SPEC_HEAD, _key, _run

PLACES = ["var/lib/rpm", "var/tmp/rootfs-bootstrap-rpms", "var/tmp", "usr/lib/sysimage/rpm",
          "var/cache/yum", "var/cache/dnf", "var/log", "etc", "tmp"]
# The chroot's mount points (the sandbox's check is shared by every family: absolute links only).
MOUNTS = ["proc", "dev", "sys"]
RPM_PLACES = {"var/lib/rpm", "var/tmp/rootfs-bootstrap-rpms", "var/tmp", "usr/lib/sysimage/rpm"}
TREE = "7.2.1511/os/x86_64"
FAKE_RPM = "#!/bin/sh\ntouch /var/lib/rpm/__db.001 /var/lib/rpm/.rpm.lock 2>/dev/null\nexit 0\n"
PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:2:\n"
Edit = Callable[[list[CpioEntry]], list[CpioEntry]]


@dataclass(frozen=True)
class Rpm:
    """One test package: %install lines, the %files body, requirements, scriptlets, and an
    optional rewrite of its cpio payload (with header integer edits) after rpmbuild."""

    name: str
    install: str = ""
    files: str = ""
    requires: tuple[str, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)
    edit: Edit | None = None
    header_edits: Callable[[Path], dict[int, list[int]]] | None = None


def _spec(pkg: Rpm) -> str:
    body = ["BuildArch: noarch", "AutoReqProv: no"] + [f"Requires: {r}" for r in pkg.requires]
    body += ["%description", f"hostile test package {pkg.name}", "%install", pkg.install or ":"]
    for kind, script in pkg.scripts.items():
        body += [f"%{kind}", script]
    body += ["%files", pkg.files, ""]
    return SPEC_HEAD.replace("NAME", pkg.name).replace("VERSION", "1.0") + "\n".join(body)


def build_rpm(pkg: Rpm, work: Path, busybox: Path) -> Path:
    """rpmbuild one package (unsigned), then apply its payload rewrite."""
    spec = work / "specs" / f"{pkg.name}.spec"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(_spec(pkg))
    top = work / "top" / pkg.name
    # rpmbuild's own mkdir of %_topdir is not safe against a second rpmbuild making the same
    # parent at once ("failed to create directory %{_topdir}: File exists").
    top.mkdir(parents=True, exist_ok=True)
    payload = "w.ufdio" if pkg.edit is not None else "w6.gzdio"  # rpmcraft rewrites plain cpio
    _run(["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"bin {busybox}",
          "--define", f"_binary_payload {payload}", str(spec)])
    rpm = next((top / "RPMS").glob(f"noarch/{pkg.name}-1.0-1.noarch.rpm"))
    if pkg.edit is not None:
        edits = pkg.header_edits(rpm) if pkg.header_edits is not None else None
        rpmcraft.rewrite_payload(rpm, pkg.edit, edits)
    return rpm


def build_mirror(packages: list[Rpm], work: Path, busybox: Path) -> tuple[Path, Path]:
    """Every package built (two at a time), signed by a throwaway key, indexed; returns
    (mirror root, public key)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        rpms = list(pool.map(lambda p: build_rpm(p, work, busybox), packages))
    fpr, pub = _key(work / "gnupg", "Hostile Test <hostile@test.invalid>")
    _run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define", f"_gpg_name {fpr}",
          *map(str, rpms)], env={**os.environ, "GNUPGHOME": str(work / "gnupg")}, stdin=subprocess.DEVNULL)
    where = work / "mirror" / TREE / "Packages"
    where.mkdir(parents=True)
    for rpm in rpms:
        os.link(rpm, where / rpm.name)
    _run(["createrepo_c", str(where.parent)])
    return work / "mirror", pub


def _links(canary: Path) -> list[Rpm]:
    """A symlink to the canary at every place the tool writes, absolute and relative."""
    found = []
    relative = "../" * 12 + str(canary).lstrip("/")
    for i, place in enumerate(PLACES + MOUNTS):
        parent = os.path.dirname(place)
        targets = [("link", str(canary))] + ([("rel-link", relative)] if place in PLACES else [])
        for prefix, target in targets:
            install = f"mkdir -p %{{buildroot}}/{parent}\nln -s {target} %{{buildroot}}/{place}"
            found.append(Rpm(f"{prefix}-{i}", install, f"/{place}",
                             ("fake-rpm",) if place in RPM_PLACES else (), {"post": ":"}))
    return found


THROUGH = """mkdir -p %{buildroot}/opt/dl/sub
echo evil > %{buildroot}/opt/dl/keep.txt
echo planted > %{buildroot}/opt/dl/planted
echo capped > %{buildroot}/opt/dl/capped
echo hl > %{buildroot}/opt/dl/h1
ln %{buildroot}/opt/dl/h1 %{buildroot}/opt/dl/h2
echo ghost > %{buildroot}/opt/dl/passwd
touch %{buildroot}/opt/dl/yum.log"""
THROUGH_FILES = """%attr(0777,daemon,daemon) %dir /opt/dl
%attr(0700,daemon,daemon) %dir /opt/dl/sub
%attr(0600,daemon,daemon) /opt/dl/keep.txt
%attr(4755,daemon,daemon) /opt/dl/planted
%caps(cap_net_raw=ep) /opt/dl/capped
/opt/dl/h1
/opt/dl/h2
/opt/dl/passwd
%ghost /opt/dl/yum.log
%dev(b,8,0) /opt/dl/sda"""


def _ghost_in_payload(rpm: Path) -> dict[int, list[int]]:
    """FILEFLAGS with /opt/dl/passwd marked %ghost although the payload carries it (as rpm
    < 4.11 sometimes wrote)."""
    from bootstrap.adapters.yum.header import read_rpm

    with open(rpm, "rb") as fh:
        info = read_rpm(fh)
    return {rpmcraft.FILEFLAGS: [f.flags | (64 if f.path == "/opt/dl/passwd" else 0) for f in info.files()]}


def _through(canary: Path) -> list[Rpm]:
    """A directory link to the canary, then a package whose files, owners, modes, caps,
    ghosts, hard links and a device go through it."""
    found = []
    for suffix, target in (("", str(canary)), ("-rel", "../" * 12 + str(canary).lstrip("/"))):
        found.append(Rpm(f"dirlink{suffix}", f"mkdir -p %{{buildroot}}/opt\nln -s {target} %{{buildroot}}/opt/dl",
                         "/opt/dl"))
        found.append(Rpm(f"through{suffix}", THROUGH, THROUGH_FILES, (f"dirlink{suffix}", "tiny-passwd"),
                         edit=lambda entries: entries, header_edits=_ghost_in_payload))
    return found


def _file(path: str, text: str) -> str:
    """%install lines writing `text` to `path` in the buildroot (a quoted here-document)."""
    return f"mkdir -p %{{buildroot}}{os.path.dirname(path)}\ncat > %{{buildroot}}{path} <<'END'\n{text}END"


def _base(canary: Path) -> list[Rpm]:
    """A shell (static busybox), passwd/group with `daemon`, a target `rpm` that is a script,
    and a package whose scriptlets reach for the host."""
    base = "install -D -m 0755 %{bin} %{buildroot}/bin/busybox\nln -s busybox %{buildroot}/bin/sh"
    passwd = _file("/etc/passwd", PASSWD) + "\n" + _file("/etc/group", GROUP)
    reach = reach_script(canary)
    return [Rpm("tiny-base", base, "/bin/busybox\n/bin/sh"),
            Rpm("tiny-passwd", passwd, "/etc/passwd\n/etc/group"),
            Rpm("fake-rpm", _file("/usr/bin/rpm", FAKE_RPM), "%attr(0755,root,root) /usr/bin/rpm", ("tiny-base",)),
            Rpm("reacher", "", "", ("tiny-base",), {"pre": reach, "post": reach})]


LIES = """mkdir -p %{buildroot}/opt/lies/d
echo x > %{buildroot}/opt/lies/suid
printf 'link text' > %{buildroot}/opt/lies/link
touch %{buildroot}/opt/lies/dev %{buildroot}/opt/lies/dir %{buildroot}/opt/lies/fifo
echo owned > %{buildroot}/opt/lies/owner
ln -s target %{buildroot}/opt/lies/sym"""
LIES_FILES = "%dir /opt/lies\n/opt/lies/*\n%dir /opt/lies/d"
# What the cpio claims for each entry of `lies` (the header keeps what rpmbuild wrote).
LIE_MODES = {"suid": 0o104777, "link": 0o120777, "dev": 0o020666, "dir": 0o040777, "fifo": 0o010666,
             "sym": 0o100755, "d": 0o100777}


def _lie(entries: list[CpioEntry]) -> list[CpioEntry]:
    out = []
    for entry in entries:
        base = entry.name.rsplit("/", 1)[-1]
        if base in LIE_MODES:
            entry = entry.but(mode=LIE_MODES[base], rdevmajor=1 if base == "dev" else 0,
                              rdevminor=3 if base == "dev" else 0)
        if base == "owner":
            entry = entry.but(uid=4242, gid=4242)
        out.append(entry)
    return out


def _rename(old: str, new: str) -> Edit:
    return lambda entries: [e.but(name=new) if e.name == old else e for e in entries]


def _link_to_symlink(entries: list[CpioEntry]) -> list[CpioEntry]:
    """./opt/hl/b made a hard link (same inode) of the symlink ./opt/hl/ln to the canary."""
    link = next(e for e in entries if e.name == "./opt/hl/ln")
    rest = [e for e in entries if e.name != "./opt/hl/b"]
    b = next(e for e in entries if e.name == "./opt/hl/b")
    return [e.but(nlink=2) if e is link else e for e in rest] + [b.but(ino=link.ino, nlink=2)]


def _payload_lies(canary: Path) -> list[Rpm]:
    """cpio modes that disagree with the header, an entry the header does not list, hard
    links out of the root (absolute, `..`) and to a symlink that points out."""
    keep = f"{canary}/keep.txt"
    pair = ("mkdir -p %{buildroot}/opt/hl\necho data > %{buildroot}/opt/hl/a\n"
            "ln %{buildroot}/opt/hl/a %{buildroot}/opt/hl/b")
    extra = CpioEntry("./opt/unlisted/evil", 0o104777, b"evil\n", ino=99)
    return [
        Rpm("lies", LIES, LIES_FILES, edit=_lie),
        Rpm("unlisted", "mkdir -p %{buildroot}/opt/unlisted\necho ok > %{buildroot}/opt/unlisted/ok",
            "/opt/unlisted", edit=lambda entries: entries + [extra]),
        Rpm("hl-abs", pair, "/opt/hl", edit=_rename("./opt/hl/b", keep)),
        Rpm("hl-dotdot", pair, "/opt/hl", edit=_rename("./opt/hl/b", "./opt/hl/" + "../" * 12 + keep.lstrip("/"))),
        Rpm("hl-to-link", f"mkdir -p %{{buildroot}}/opt/hl\nln -s {keep} %{{buildroot}}/opt/hl/ln\n"
            "echo data > %{buildroot}/opt/hl/b", "/opt/hl", edit=_link_to_symlink),
        Rpm("devices", "mkdir -p %{buildroot}/opt/devs",
            "%dir /opt/devs\n%dev(c,1,3) /opt/devs/null\n%dev(b,8,0) /opt/devs/sda\n%dev(c,1,1) /dev/mem"),
    ]


def _conflicts(canary: Path) -> list[Rpm]:
    """A file or a link where another package installed a directory with files, and a
    directory where another package installed a file."""
    return [
        Rpm("dir-owner", "mkdir -p %{buildroot}/opt/x\necho f1 > %{buildroot}/opt/x/f1", "/opt/x"),
        Rpm("file-over-dir", "mkdir -p %{buildroot}/opt\necho file > %{buildroot}/opt/x", "/opt/x", ("dir-owner",)),
        Rpm("link-over-dir", f"mkdir -p %{{buildroot}}/opt\nln -s {canary} %{{buildroot}}/opt/x", "/opt/x",
            ("dir-owner",)),
        Rpm("file-owner", "mkdir -p %{buildroot}/opt\necho file > %{buildroot}/opt/y", "/opt/y"),
        Rpm("dir-over-file", "mkdir -p %{buildroot}/opt/y\necho f > %{buildroot}/opt/y/f", "/opt/y",
            ("file-owner",)),
    ]


def hostile_packages(canary: Path) -> list[Rpm]:
    """Every package of the battery's repository."""
    return _base(canary) + _links(canary) + _through(canary) + _payload_lies(canary) + _conflicts(canary)
