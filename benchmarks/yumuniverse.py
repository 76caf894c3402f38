"""The synthetic packages of the bench's 60,000-package yum repository (benchmarks/yumgen.py
writes them out): deterministic for a seed, shaped like Fedora's Everything.

Packages come from *sources*, as in a distribution: a source gives a main package and, by its
kind, `-libs` (a soname, `lib<stem>.so.N()(64bit)`), `-devel` (`pkgconfig(<stem>)`), `-doc`
(noarch), an i686 multilib copy of its library, or an ecosystem package (python3-*, perl-*,
golang-*-devel, rust-*-devel, texlive-*), with the provides rpm writes (`name = EVR`,
`name(x86-64) = EVR`, `config(name)`), sometimes `bundled(...)`. The first sources are a
fixed list of real base names (glibc, bash, coreutils, python3, perl...), then ~600 more base
sources, then the rest. Requires point only at sources earlier in that order (a DAG): the
own -libs at `= EVR`, sonames of earlier libraries, `/bin/sh` (pre) for a scriptlet, a file
in /usr/bin of an earlier tool, `python(abi) = 3.12`, `perl(:MODULE_COMPAT_5.38.2)`; base
sources require base sources only, so `@core` (base main packages) closes in a few hundred.
Conflicts (`< 0.1`, below every version generated) and obsoletes (of `-compat` names nobody
ships) never remove a package. Files in /usr/bin, /usr/sbin and /etc are in primary, as
createrepo_c keeps them; libraries, docs and man pages are in filelists only.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

DIST = "fc40"
FIXED_TOOLS = ("filesystem", "bash", "coreutils", "findutils", "grep", "sed", "gawk", "gzip", "tar",
               "which", "procps-ng", "passwd", "shadow-utils", "vim-minimal", "fedora-release", "less",
               "iproute", "hostname", "kbd", "e2fsprogs", "openssh", "sudo", "dbus", "chrony", "cpio",
               "diffutils", "file", "rootfiles", "iputils", "dnf", "rpm")
FIXED_LIBS = ("zlib", "xz", "bzip2", "ncurses", "readline", "openssl", "pam", "audit", "libselinux",
              "libacl", "libattr", "libcap", "systemd", "krb5", "libxcrypt", "pcre2", "sqlite", "libzstd",
              "lz4", "curl", "libsolv", "gmp", "elfutils", "popt", "libffi", "expat", "json-c",
              "util-linux", "libgcc", "libstdc++", "python3", "perl")
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "zo", "ber", "dex", "fin", "gor", "hal", "jun", "kel",
             "lux", "mor", "nix", "pal", "quo", "ros", "sil", "tor", "ump", "vex", "wil", "yar", "zen")
ECOSYSTEMS = ("python3-", "perl-", "golang-github-", "rust-", "texlive-")
GLIBC_VERSIONS = ("2.2.5", "2.3", "2.3.4", "2.4", "2.14", "2.17", "2.28", "2.32", "2.33", "2.34")


class Entry(NamedTuple):
    """One rpm:entry: a name, and flags/epoch/ver/rel when versioned; pre for Requires(pre)."""

    name: str
    flags: str = ""
    epoch: str = ""
    ver: str = ""
    rel: str = ""
    pre: bool = False


@dataclass
class Rpm:
    """One binary package as primary/filelists list it."""

    name: str
    arch: str
    epoch: str
    ver: str
    rel: str
    summary: str
    provides: list[Entry] = field(default_factory=list)
    requires: list[Entry] = field(default_factory=list)
    conflicts: list[Entry] = field(default_factory=list)
    obsoletes: list[Entry] = field(default_factory=list)
    files: list[tuple[str, bool]] = field(default_factory=list)  # primary's (path, is a directory)
    more_files: list[str] = field(default_factory=list)  # filelists only
    source: str = ""

    def eq(self, name: str | None = None) -> Entry:
        return Entry(name or self.name, "EQ", self.epoch, self.ver, self.rel)


@dataclass
class Source:
    stem: str
    kind: str  # tool, lib, eco (an ecosystem package)
    base: bool
    main: Rpm | None = None


class Universe:
    """Generates the packages; `packages` and `core` (the comps group's names) once `build` ran."""

    def __init__(self, seed: int, reserved: set[str]) -> None:
        self.rng = random.Random(seed)
        self.used = set(reserved)
        self.sources: list[Source] = []
        self.packages: list[Rpm] = []
        self.glibc: dict[str, Rpm] = {}
        self.bash: Rpm | None = None
        # What later sources may require, in order: (sonames, /usr/bin tools) of base sources, of all.
        self.offers: dict[bool, tuple[list[str], list[str]]] = {True: ([], []), False: ([], [])}

    def build(self, count: int, base_sources: int = 600) -> None:
        """Sources in order (fixed base names, generated base, the rest) until `count` packages."""
        fixed = [(s, "tool") for s in FIXED_TOOLS] + [(s, "lib") for s in FIXED_LIBS]
        self._glibc()
        index = 0
        while len(self.packages) < count:
            if index < len(fixed):
                stem, kind = fixed[index]
            else:
                kind = self.rng.choices(("tool", "lib", "eco"), (35, 30, 35))[0]
                stem = self._word()
            self._source(Source(stem, kind, base=index < len(fixed) + base_sources))
            index += 1
        del self.packages[count:]

    def core(self, size: int, real: list[str]) -> tuple[list[str], list[str]]:
        """(mandatory, default) names of a `core` group of about `size` base main packages."""
        fixed = [s.main.name for s in self.sources if s.main and s.stem in FIXED_TOOLS]
        pool = [s.main.name for s in self.sources if s.base and s.main and s.stem not in FIXED_TOOLS]
        picked = self.rng.sample(pool, min(len(pool), size - len(fixed) - len(real)))
        return real + fixed + ["glibc"], sorted(picked)

    def _word(self) -> str:
        while True:
            word = "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))
            if word not in self.used:
                self.used.add(word)
                return word

    def _rpm(self, name: str, arch: str, src: Source, like: Rpm | None = None) -> Rpm:
        rng = self.rng
        if like is not None:
            epoch, ver, rel = like.epoch, like.ver, like.rel
        else:
            epoch = rng.choices(("0", "1", "2"), (90, 8, 2))[0]
            ver = f"{rng.randint(1, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 15)}"
            rel = f"{rng.randint(1, 12)}.{DIST}"
        rpm = Rpm(name, arch, epoch, ver, rel, f"The {name} package", source=f"{src.stem}-{ver}-{rel}.src.rpm")
        rpm.provides.append(rpm.eq())
        if arch in ("x86_64", "i686"):
            rpm.provides.append(rpm.eq(f"{name}({'x86-64' if arch == 'x86_64' else 'x86-32'})"))
        rpm.more_files.append(f"/usr/share/doc/{name}/README")
        self.used.add(name)
        self.packages.append(rpm)
        return rpm

    def _earlier(self, src: Source, tools: bool, k: int) -> list[str]:
        """Up to `k` sonames (or tools) of earlier sources (base ones only, for a base source)."""
        pool = self.offers[src.base][tools]
        return sorted(set(self.rng.sample(pool, min(len(pool), k))))

    def _offer(self, src: Source, tools: bool, what: str) -> None:
        self.offers[False][tools].append(what)
        if src.base:
            self.offers[True][tools].append(what)

    def _glibc(self) -> None:
        src = Source("glibc", "lib", base=True)
        for arch, bits in (("x86_64", "()(64bit)"), ("i686", "")):
            rpm = self._rpm("glibc", arch, src, like=self.glibc.get("x86_64"))
            loader = "ld-linux-x86-64.so.2" if bits else "ld-linux.so.2"
            libs = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libresolv.so.2", loader]
            rpm.provides += [Entry(f"{lib}{bits}") for lib in libs] + [Entry("rtld(GNU_HASH)")]
            rpm.provides += [Entry(f"libc.so.6(GLIBC_{v}){'(64bit)' if bits else ''}") for v in GLIBC_VERSIONS]
            rpm.requires += [Entry("basesystem"), Entry("glibc-common", *rpm.eq()[1:])]
            rpm.more_files += [f"/usr/{'lib64' if bits else 'lib'}/{lib}" for lib in libs]
            self.glibc[arch] = rpm
        main = src.main = self.glibc["x86_64"]
        common = self._rpm("glibc-common", "x86_64", src, like=main)
        common.files.append(("/usr/bin/locale", False))
        langpack = self._rpm("glibc-minimal-langpack", "x86_64", src, like=main)
        for rpm in (common, langpack):
            rpm.requires.append(Entry("glibc", *main.eq()[1:]))
        self._offer(src, False, "libm.so.6()(64bit)")
        self.sources.append(src)

    def _source(self, src: Source) -> None:
        if src.kind == "eco":
            self._ecosystem(src)
        else:
            self._native(src)
        self.sources.append(src)

    def _native(self, src: Source) -> None:
        rng = self.rng
        main = src.main = self._rpm(src.stem, "noarch" if src.stem == "filesystem" else "x86_64", src)
        if src.kind == "lib":
            libs = self._rpm(f"{src.stem}-libs", "x86_64", src, like=main)
            soname = f"lib{src.stem.replace('+', 'x')}.so.{rng.randint(0, 9)}"
            libs.provides.append(Entry(soname + "()(64bit)"))
            libs.more_files.append(f"/usr/lib64/{soname}")
            self._links(libs, src)
            main.requires.append(libs.eq(f"{libs.name}(x86-64)"))
            devel = self._rpm(f"{src.stem}-devel", "x86_64", src, like=main)
            devel.provides.append(Entry(f"pkgconfig({src.stem})", "EQ", "0", main.ver))
            devel.requires += [libs.eq(f"{libs.name}(x86-64)"), Entry(soname + "()(64bit)"), Entry("pkgconfig")]
            devel.more_files.append(f"/usr/include/{src.stem}/{src.stem}.h")
            self._offer(src, False, soname + "()(64bit)")
            if src.stem == "python3":
                libs.provides.append(Entry("python(abi)", "EQ", "0", "3.12"))
            if src.stem == "perl":
                libs.provides.append(Entry("perl(:MODULE_COMPAT_5.38.2)"))
            if rng.random() < 0.1:
                multilib = self._rpm(f"{src.stem}-libs", "i686", src, like=main)
                multilib.provides.append(Entry(soname))
                multilib.requires += [Entry("libc.so.6"), Entry("rtld(GNU_HASH)")]
        if src.stem != "filesystem":
            self._links(main, src)
            self._tool_files(main, src)
        self._extras(main, src)
        if rng.random() < 0.3:
            self._rpm(f"{src.stem}-doc", "noarch", src, like=main).requires.append(Entry(main.name))

    def _links(self, rpm: Rpm, src: Source) -> None:
        """Requires of a native binary: glibc's sonames, those of a few earlier libraries."""
        rpm.requires += [Entry("libc.so.6()(64bit)"), Entry("libc.so.6(GLIBC_2.34)(64bit)"), Entry("rtld(GNU_HASH)")]
        rpm.requires += [Entry(n) for n in self._earlier(src, False, self.rng.randint(0, 3))]

    def _tool_files(self, main: Rpm, src: Source) -> None:
        rng = self.rng
        name = main.name
        if main.name == "bash":
            main.provides += [Entry("/bin/sh"), Entry("/bin/bash")]
            main.files += [("/usr/bin/bash", False), ("/usr/bin/sh", False)]
            self.bash = main
        elif src.kind == "tool" or rng.random() < 0.5:
            main.files.append((f"/usr/bin/{name}", False))
            self._offer(src, True, f"/usr/bin/{name}")
        if rng.random() < 0.25:
            main.files += [(f"/etc/{src.stem}", True), (f"/etc/{src.stem}/{src.stem}.conf", False)]
            main.provides.append(main.eq(f"config({name})"))
        if rng.random() < 0.05:
            main.files.append((f"/usr/sbin/{src.stem}d", False))
        main.more_files.append(f"/usr/share/man/man1/{name}.1.gz")
        if rng.random() < 0.3:
            main.requires.append(Entry("/bin/sh", pre=True))
        if rng.random() < 0.05:
            main.requires += [Entry(t) for t in self._earlier(src, True, 1)]

    def _extras(self, rpm: Rpm, src: Source) -> None:
        """A few conflicts, obsoletes and bundled() provides, never naming what could clash."""
        rng = self.rng
        if rng.random() < 0.02 and len(self.sources) > 50:
            other = rng.choice(self.sources[:50]).main
            if other is not None and other.name != rpm.name:
                rpm.conflicts.append(Entry(other.name, "LT", "0", "0.1"))
        if rng.random() < 0.03:
            rpm.obsoletes.append(Entry(f"{rpm.name}-compat", "LT", rpm.epoch, rpm.ver, rpm.rel))
        if rng.random() < 0.05:
            rpm.provides.append(Entry(f"bundled({self._word()})", "EQ", "0", "1.0"))

    def _ecosystem(self, src: Source) -> None:
        """python3-*, perl-*, golang-github-*-devel, rust-*-devel, texlive-*: noarch, requiring
        their interpreter and up to two earlier packages of the same ecosystem."""
        prefix = self.rng.choice(ECOSYSTEMS)
        suffix = "-devel" if prefix in ("golang-github-", "rust-") else ""
        name = f"{prefix}{src.stem}{suffix}"
        rpm = src.main = self._rpm(name, "noarch", src)
        needs = {"python3-": [Entry("python(abi)", "EQ", "0", "3.12")],
                 "perl-": [Entry("perl(:MODULE_COMPAT_5.38.2)")],
                 "golang-github-": [Entry("golang")], "rust-": [Entry("cargo")],
                 "texlive-": [Entry("texlive-base")]}[prefix]
        rpm.requires += needs
        same = [s.main.name for s in self.sources[-400:] if s.kind == "eco" and s.main
                and s.main.name.startswith(prefix) and s.base == src.base]
        rpm.requires += [Entry(n) for n in sorted(self.rng.sample(same, min(len(same), self.rng.randint(0, 2))))]
        if prefix == "python3-":
            rpm.more_files.append(f"/usr/lib/python3.12/site-packages/{src.stem}/__init__.py")
        self._extras(rpm, src)
        for needed in ("golang", "cargo", "texlive-base"):
            if needs[0].name == needed and needed not in self.used:
                self._source(Source(needed, "tool", base=True))  # the interpreter, once
