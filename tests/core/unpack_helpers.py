"""Archives for the unpacker and packer tests, made by the real tools (tar, cpio, ar, dpkg-deb,
rpmbuild). Each helper builds in a scratch directory and returns the archive's path."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def need(*tools: str) -> None:
    """Skip the calling test when a tool is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> bytes:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, check=False,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{argv}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def tar(out: Path, stage: Path, *members: str, extra: tuple[str, ...] = ()) -> Path:
    """GNU tar of `members` of `stage`, names as given (-P keeps `..` and `/`), numeric
    owners and fixed times so results are stable."""
    run("tar", "-c", "-f", out, "-C", stage, "-P", "--format=pax",
        "--mtime=@1600000000", "--sort=name", *extra, *members)
    return out


def tar_append(out: Path, stage: Path, *members: str, extra: tuple[str, ...] = ()) -> Path:
    run("tar", "-r", "-f", out, "-C", stage, "-P", "--format=pax",
        "--mtime=@1600000000", "--sort=name", *extra, *members)
    return out


def evil_tars(scratch: Path) -> dict[str, Path]:
    """One tar per escape: `..`, absolute name, symlink-then-file, hard link out (`..`,
    absolute, and through a symlink the archive placed)."""
    stage = scratch / "stage"
    stage.mkdir(parents=True)
    (stage / "payload").write_text("owned\n")
    found: dict[str, Path] = {}
    found["dotdot"] = tar(scratch / "dotdot.tar", stage, "payload",
                          extra=("--transform=s,^payload,../../escaped,",))
    found["absolute"] = tar(scratch / "absolute.tar", stage, "payload",
                            extra=(f"--transform=s,^payload,{scratch}/abs-escaped,",))
    # A symlink pointing out of the root, then a file "through" it.
    (stage / "link").symlink_to(scratch / "outside")
    found["symlink"] = tar(scratch / "symlink.tar", stage, "link")
    other = scratch / "stage2"
    (other / "link").mkdir(parents=True)
    (other / "link" / "evil").write_text("owned\n")
    tar_append(found["symlink"], other, "link/evil")
    # Hard links whose targets are outside: only the link target name is rewritten ("hRS").
    os.link(stage / "payload", stage / "hard")
    found["hardlink-dotdot"] = tar(scratch / "hl1.tar", stage, "payload", "hard",
                                   extra=("--transform=s,^payload$,../../etc/passwd,hRS",))
    found["hardlink-absolute"] = tar(scratch / "hl2.tar", stage, "payload", "hard",
                                     extra=("--transform=s,^payload$,/etc/passwd,hRS",))
    found["hardlink-via-symlink"] = tar(scratch / "hl3.tar", stage, "link", "payload", "hard",
                                        extra=("--transform=s,^payload$,link/secret,hRS",))
    return found


def deb_from_data(out: Path, data_tar: Path, scratch: Path) -> Path:
    """A .deb (ar: debian-binary, control.tar.xz, data.tar.<whatever>) around `data_tar`,
    assembled with ar as dpkg-deb would, so hostile data can be wrapped."""
    work = scratch / f"deb-{out.stem}"
    (work / "ctl").mkdir(parents=True)
    (work / "ctl" / "control").write_text("Package: evil\nVersion: 1\nArchitecture: all\n"
                                          "Maintainer: t <t@example.org>\nDescription: t\n")
    (work / "debian-binary").write_text("2.0\n")
    run("tar", "-c", "-J", "-f", work / "control.tar.xz", "-C", work / "ctl", "./control")
    suffix = "".join(data_tar.suffixes)
    shutil.copy(data_tar, work / f"data{suffix}")
    run("ar", "rc", out.resolve(), "debian-binary", "control.tar.xz", f"data{suffix}", cwd=work)
    return out


def tiny_deb(out: Path, scratch: Path, compression: str = "xz") -> Path:
    """A real .deb by dpkg-deb: a setuid binary, a symlink, a hard link, a postinst."""
    src = scratch / "debsrc"
    (src / "DEBIAN").mkdir(parents=True)
    (src / "usr" / "bin").mkdir(parents=True)
    (src / "bin").mkdir()
    (src / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (src / "usr" / "bin" / "su").write_text("su\n")
    os.chmod(src / "usr" / "bin" / "su", 0o4755)
    (src / "usr" / "bin" / "sh").symlink_to("dash")
    os.link(src / "usr" / "bin" / "su", src / "usr" / "bin" / "su2")
    (src / "DEBIAN" / "control").write_text(
        "Package: tiny\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: tiny test package\n")
    (src / "DEBIAN" / "postinst").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(src / "DEBIAN" / "postinst", 0o755)
    run("dpkg-deb", f"-Z{compression}", "--root-owner-group", "-b", src, out)
    return out


def tiny_rpm(scratch: Path) -> Path:
    """A real .rpm by rpmbuild: a setuid file owned by 0:0 and a directory."""
    top = scratch / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / "tiny.spec"
    spec.write_text("""Name: tiny
Version: 1.0
Release: 1
Summary: tiny
License: MIT
BuildArch: noarch
%description
tiny
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/tiny
echo hello > %{buildroot}/usr/bin/tiny
echo conf > %{buildroot}/etc/tiny/tiny.conf
ln -s tiny %{buildroot}/usr/bin/tiny-link
%files
%attr(4755,root,root) /usr/bin/tiny
/usr/bin/tiny-link
%dir /etc/tiny
%config /etc/tiny/tiny.conf
""")
    run("rpmbuild", "--define", f"_topdir {top}", "--define", "_binary_payload w9.xzdio",
        "-bb", spec)
    return next((top / "RPMS" / "noarch").glob("tiny-1.0-1.noarch.rpm"))


def cpio(out: Path, cwd: Path, *names: str) -> Path:
    """A newc cpio (rpm's payload format) of `names` as given, relative to `cwd`."""
    done = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=cwd,
                          input="\n".join(names).encode() + b"\n", capture_output=True,
                          check=True)
    out.write_bytes(done.stdout)
    return out


def stage_tree(tmp_path: Path) -> Path:
    """A small tree to archive: a program and a symlink to it."""
    stage = tmp_path / "stage"
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / "prog").write_text("program\n")
    (stage / "usr" / "bin" / "alias").symlink_to("prog")
    return stage


ESCAPES = ["dotdot", "absolute", "symlink", "hardlink-dotdot", "hardlink-absolute",
           "hardlink-via-symlink"]


def assert_nothing_outside(tmp_path: Path) -> None:
    """No escape case wrote beside its scratch directory."""
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert not (tmp_path / "abs-escaped").exists()
    assert not (tmp_path / "outside").exists()
