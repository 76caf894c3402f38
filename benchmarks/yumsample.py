"""The real part of the bench's 60,000-package yum repository: six Fedora-shaped packages built
by rpmbuild, signed by rpmsign and indexed by createrepo_c, with the plumbing the test suite's
yum mirrors use (tests/yum/yumrepo.py: its gpg key maker, rpmsign call and tool runner).

The six: setup and basesystem (noarch, as Fedora's), libhello for x86_64 and for i686 (a real
shared library, so rpm's own dependency generator writes the soname provides and the glibc
requires), hello (a dynamically linked binary, %config file, %post scriptlet, an epoch,
Provides/Conflicts/Obsoletes) and hello-doc (noarch). Build times and file dates come from
SOURCE_DATE_EPOCH; the rpms still differ from run to run, since each run signs them with a new
throwaway key (so their pkgid digests in primary.xml differ too; the generated part does not).
`sample_repo(work)` returns the createrepo_c output and the key; benchmarks/yumgen.py takes the
`<package>` elements of its primary/filelists/other verbatim.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.yum.yumrepo import _key, _run, _sign

EPOCH = 1700000000
LIB_C = "int hello_answer(void) { return 42; }\n"
HELLO_C = '#include <stdio.h>\nint hello_answer(void);\nint main(void) { printf("%d\\n", hello_answer()); return 0; }\n'
HEAD = """%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
Name: NAME
Version: VERSION
Release: RELEASE
Summary: SUMMARY
License: MIT
URL: https://example.invalid/NAME
"""
SPECS: list[tuple[str, str, str, str, str]] = [  # name, version, release, arch, body
    ("setup", "2.14.5", "2.fc40", "noarch", """BuildArch: noarch
%description
System configuration and setup files.
%install
mkdir -p %{buildroot}/etc
printf 'root:x:0:0:root:/root:/bin/bash\\n' > %{buildroot}/etc/passwd
printf 'root:x:0:\\n' > %{buildroot}/etc/group
printf '/bin/sh\\n/bin/bash\\n' > %{buildroot}/etc/shells
%files
%config(noreplace) /etc/passwd
%config(noreplace) /etc/group
%config(noreplace) /etc/shells
"""),
    ("basesystem", "11", "20.fc40", "noarch", """BuildArch: noarch
Requires: setup
Requires: filesystem
%description
The skeleton package which defines a simple Fedora system.
%install
mkdir -p %{buildroot}
%files
"""),
    ("libhello", "2.12.1", "3.fc40", "x86_64", """Epoch: 1
%description
The hello library.
%install
install -D -m 0755 %{bin}/lib64/libhello.so.1 %{buildroot}/usr/lib64/libhello.so.1
%files
/usr/lib64/libhello.so.1
"""),
    ("libhello", "2.12.1", "3.fc40", "i686", """Epoch: 1
%description
The hello library (32-bit).
%install
install -D -m 0755 %{bin}/lib32/libhello.so.1 %{buildroot}/usr/lib/libhello.so.1
%files
/usr/lib/libhello.so.1
"""),
    ("hello", "2.12.1", "3.fc40", "x86_64", """Epoch: 1
Requires: libhello%{?_isa} = %{epoch}:%{version}-%{release}
Provides: hello-tool = %{version}
Conflicts: hello-legacy < 1.0
Obsoletes: hello-old < 2.0
%description
Prints a greeting.
%install
install -D -m 0755 %{bin}/hello %{buildroot}/usr/bin/hello
mkdir -p %{buildroot}/etc/hello %{buildroot}/usr/share/man/man1
echo greeting=hello > %{buildroot}/etc/hello/hello.conf
echo '.TH HELLO 1' > %{buildroot}/usr/share/man/man1/hello.1
%post
echo installed > /dev/null
%files
/usr/bin/hello
%dir /etc/hello
%config(noreplace) /etc/hello/hello.conf
/usr/share/man/man1/hello.1
"""),
    ("hello-doc", "2.12.1", "3.fc40", "noarch", """BuildArch: noarch
Requires: hello
%description
The hello manual.
%install
mkdir -p %{buildroot}/usr/share/doc/hello
echo manual > %{buildroot}/usr/share/doc/hello/manual.txt
%files
/usr/share/doc/hello/manual.txt
"""),
]


@dataclass(frozen=True)
class Sample:
    """createrepo_c's output over the signed sample rpms (`repo`: Packages/ and repodata/)."""

    repo: Path
    rpms: list[Path]
    gnupghome: Path
    fingerprint: str
    public_key: Path


def _compile(src: Path) -> None:
    """libhello.so.1 for x86_64 (lib64/) and i686 (lib32/), and hello linked to the first."""
    (src / "lib.c").write_text(LIB_C)
    (src / "hello.c").write_text(HELLO_C)
    for bits, where in (("-m64", "lib64"), ("-m32", "lib32")):  # -m32: gcc-multilib
        (src / where).mkdir()
        _run(["gcc", bits, "-shared", "-fPIC", "-Wl,-soname,libhello.so.1", "-o",
              str(src / where / "libhello.so.1"), str(src / "lib.c")])
    _run(["gcc", "-o", str(src / "hello"), str(src / "hello.c"), f"-L{src / 'lib64'}", "-l:libhello.so.1"])


def _rpmbuild(work: Path, src: Path, spec: tuple[str, str, str, str, str]) -> Path:
    name, version, release, arch, body = spec
    text = HEAD.replace("NAME", name).replace("VERSION", version).replace("RELEASE", release)
    path = work / f"{name}.{arch}.spec"
    path.write_text(text.replace("SUMMARY", f"The {name} package") + body)
    top = work / "top"
    argv = ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"bin {src}",
            "--define", "use_source_date_epoch_as_buildtime 1", "--define", "clamp_mtime_to_source_date_epoch 1",
            "--define", "_buildhost bench.invalid",
            "--target", f"{arch}-linux", str(path)]
    _run(argv, env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)})
    return next((top / "RPMS").glob(f"*/{name}-{version}-{release}.{arch}.rpm"))


def sample_repo(work: Path) -> Sample:
    """Build, sign and index the sample in `work` (made if absent)."""
    missing = [t for t in ("rpmbuild", "rpmsign", "createrepo_c", "gpg", "gcc") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"bench: yum repository needs {', '.join(missing)} (make install-system)")
    work.mkdir(parents=True, exist_ok=True)
    src = work / "src"
    src.mkdir()
    _compile(src)
    fingerprint, public = _key(work / "gnupg", "Bench Yum <yum@bench.invalid>")
    repo = work / "repo"
    rpms = []
    for spec in SPECS:
        built = _rpmbuild(work, src, spec)
        _sign(built, work / "gnupg", fingerprint)
        where = repo / "Packages" / built.name[0].lower() / built.name
        where.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built, where)
        os.utime(where, (EPOCH, EPOCH))
        rpms.append(where)
    createrepo(repo)
    return Sample(repo, rpms, work / "gnupg", fingerprint, public)


def createrepo(repo: Path, comps: Path | None = None) -> None:
    """createrepo_c over `repo` (no sqlite databases: dnf-era repositories have none), with
    `comps` as its group file when given."""
    groups = ["-g", str(comps)] if comps else []
    _run(["createrepo_c", "--no-database", "--revision", str(EPOCH), *groups, str(repo)])


def sign_repomd(repo: Path, gnupghome: Path, fingerprint: str) -> None:
    """repodata/repomd.xml.asc, an armored detached signature (as Fedora's and openSUSE's)."""
    repomd = repo / "repodata" / "repomd.xml"
    subprocess.run(["gpg", "--batch", "--yes", "-u", fingerprint, "--detach-sign", "--armor",
                    "-o", str(repomd) + ".asc", str(repomd)],
                   env={**os.environ, "GNUPGHOME": str(gnupghome)}, check=True, capture_output=True)
