"""A vault.centos.org-shaped yum mirror for the tests, made with the real tools: i686, i386 and
noarch packages built by rpmbuild (a `gcc -m32 -static` binary, several payload compressions),
signed with a throwaway key by rpmsign, indexed by createrepo_c (4.3/os with the legacy `sha`
checksum name), served on 127.0.0.1. 4.4 has updates signed by another key, 4.5 a package
changed after createrepo ran."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server import Server

TOOLS = ("rpmbuild", "rpmsign", "createrepo_c", "gpg", "gcc")
HELLO_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
  if (argc > 1) {
    FILE *f = fopen("/var/lib/hello-post", "w");
    if (f) { fputs(argv[argc - 1], f); fclose(f); }
    return 0;
  }
  printf("hello from %d-bit\n", (int)(sizeof(void *) * 8));
  return 0;
}
"""
SPEC_HEAD = """%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%global _binaries_in_noarch_packages_terminate_build 0
Name: NAME
Version: VERSION
Release: 1
Summary: vault test package
License: MIT
"""
SETUP = """BuildArch: noarch
%description
passwd and group
%install
mkdir -p %{buildroot}/etc
printf 'root:x:0:0:root:/root:/bin/sh\\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\\n' > %{buildroot}/etc/passwd
printf 'root:x:0:\\ndaemon:x:2:\\nmail:x:12:\\n' > %{buildroot}/etc/group
%files
%config(noreplace) /etc/passwd
%config(noreplace) /etc/group
"""
HELLO = """Requires: setup
%description
a 32-bit static binary
%install
install -D -m 0755 %{bin} %{buildroot}/usr/bin/hello
install -D -m 0755 %{bin} %{buildroot}/usr/bin/pinger
install -D -m 0755 %{bin} %{buildroot}/usr/bin/hello-suid
mkdir -p %{buildroot}/var/spool/hello %{buildroot}/var/log %{buildroot}/etc %{buildroot}/var/lib
echo conf > %{buildroot}/etc/hello.conf
touch %{buildroot}/var/log/hello.log
%post -p /usr/bin/hello
scriptlet body: rpm runs `/usr/bin/hello <this file> 1`
%files
/usr/bin/hello
%caps(cap_net_raw=ep) /usr/bin/pinger
%attr(0770,daemon,mail) %dir /var/spool/hello
%attr(4750,root,mail) /usr/bin/hello-suid
%config(noreplace) /etc/hello.conf
%ghost /var/log/hello.log
%dir /var/lib
"""
DATA = """BuildArch: noarch
%description
data
%install
mkdir -p %{buildroot}/usr/share/hello
echo readme > %{buildroot}/usr/share/hello/README
%files
/usr/share/hello/README
"""
EXTRA = """BuildArch: noarch
Requires: /usr/share/hello/README
%description
needs a file primary does not list
%install
mkdir -p %{buildroot}/usr/share/hello-extra
echo x > %{buildroot}/usr/share/hello-extra/x
%files
/usr/share/hello-extra/x
"""


@dataclass(frozen=True)
class Vault:
    url: str
    top: Path
    key: Path
    evil_key: Path


def _need_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install rpm createrepo-c gpg gcc-multilib)")


def _run(argv: list[str], env: dict[str, str] | None = None, stdin: int | None = None) -> None:
    """Run a build tool; a failure names the command and ends with what it printed (its
    stderr is the only clue when a tool fails once in a CI run)."""
    done = subprocess.run(argv, capture_output=True, env=env, stdin=stdin)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise AssertionError(f"{' '.join(argv[:2])} exited {done.returncode}:\n{tail}")


def _key(home: Path, uid: str) -> tuple[str, Path]:
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign", "never"], env=env)
    out = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=env, capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr"))
    pub = home.parent / f"{home.name}.asc"
    pub.write_bytes(subprocess.run(["gpg", "--armor", "--export"], env=env, capture_output=True).stdout)
    return fpr, pub


def _build(work: Path, name: str, version: str, arch: str, body: str, payload: str, binary: Path) -> Path:
    spec = work / f"{name}-{version}-{arch}.spec"
    spec.write_text(SPEC_HEAD.replace("NAME", name).replace("VERSION", version) + body)
    top = work / "top"
    argv = ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"bin {binary}",
            "--define", f"_binary_payload {payload}", str(spec)]
    if arch != "noarch":
        argv[2:2] = ["--target", f"{arch}-linux"]
    _run(argv)
    return next((top / "RPMS").glob(f"*/{name}-{version}-1.{arch}.rpm"))


def _sign(rpm: Path, home: Path, fpr: str) -> None:
    _run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define", f"_gpg_name {fpr}", str(rpm)],
         env={**os.environ, "GNUPGHOME": str(home)}, stdin=subprocess.DEVNULL)


def _tree(top: Path, release: str, repo: str, rpms: list[Path], checksum: str = "sha256") -> Path:
    where = top / release / repo / "i386"
    (where / "RPMS").mkdir(parents=True)
    for rpm in rpms:
        shutil.copy(rpm, where / "RPMS" / rpm.name)
    _run(["createrepo_c", "--checksum", checksum, str(where)])
    return where


def vault_mirror(work: Path) -> Iterator[Vault]:
    """Build the mirror in `work` and serve it on 127.0.0.1 while the generator is open
    (the session fixture `vault` in conftest.py)."""
    _need_tools()
    (work / "hello.c").write_text(HELLO_C)
    binary = work / "hello"
    _run(["gcc", "-m32", "-static", "-O2", "-o", str(binary), str(work / "hello.c")])  # gcc-multilib
    fpr, pub = _key(work / "gnupg", "Vault Test <vault@test.invalid>")
    evil_fpr, evil_pub = _key(work / "evil", "Evil <evil@test.invalid>")
    os_rpms = [_build(work, "setup", "2.5", "noarch", SETUP, "w9.gzdio", binary),
               _build(work, "hello", "0.9", "i686", HELLO, "w9.gzdio", binary),
               _build(work, "hello-data", "1.0", "noarch", DATA, "w6.xzdio", binary),
               _build(work, "hello-extra", "1.0", "noarch", EXTRA, "w6.xzdio", binary)]
    upd_rpms = [_build(work, "hello", "1.0", "i686", HELLO, "w9.bzdio", binary),
                _build(work, "hello", "1.0", "i386", HELLO, "w3.zstdio", binary)]
    for rpm in os_rpms + upd_rpms:
        _sign(rpm, work / "gnupg", fpr)
    top = work / "mirror"
    _tree(top, "4.3", "os", os_rpms, checksum="sha")  # old createrepo's SHA-1 name
    _tree(top, "4.3", "updates", upd_rpms)
    # 4.4: hello 1.0 re-signed by another key; 4.5: hello changed after createrepo.
    evil = work / "evil-rpms"
    evil.mkdir()
    for rpm in upd_rpms:
        shutil.copy(rpm, evil / rpm.name)
        _sign(evil / rpm.name, work / "evil", evil_fpr)
    _tree(top, "4.4", "os", os_rpms, checksum="sha")
    _tree(top, "4.4", "updates", sorted(evil.glob("*.rpm")))
    _tree(top, "4.5", "os", os_rpms, checksum="sha")
    where = _tree(top, "4.5", "updates", upd_rpms)
    for rpm in (where / "RPMS").glob("hello-1.0-1.i686.rpm"):
        with open(rpm, "ab") as fh:
            fh.write(b"\0")
    with Server(top) as server:
        yield Vault(server.url, top, pub, evil_pub)


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """`rootfs-bootstrap ARGS --cache-dir CACHE` from the source tree, output captured."""
    return subprocess.run([sys.executable, "-m", "bootstrap", *args, "--cache-dir", str(cache)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
