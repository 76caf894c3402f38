"""The BuildRequires of an rpm spec file, as rpmbuild would read them for a target release:
what `--buildrequires FILE.spec` adds to the requested packages (a build root, as mock gives).

    buildrequires(text, macros=None, *, source="x.spec") -> ["gcc >= 3.4", "zlib-devel", "/bin/login"]
    read_spec(path) -> text                 spec_requests(paths, profile, defines) -> the same, for --buildrequires
    target_macros(profile) -> {"_target_cpu": "i386", "rhel": "4", "dist": ".el4", ...}

Each request is `name` or `name OP version` (OP one of < <= = >= >), one per atom of the
BuildRequires / BuildPrereq lines (BuildPrereq is old rpm's spelling and means the same); file
requirements (`/usr/bin/foo`) stay paths, for the resolver to meet from file lists. Atoms are
split at commas and whitespace and an operator joins the words around it, as rpm does; unlike
rpm 4.18, which reads `gcc>=3.4` (no spaces) as one name no package has and refuses `gcc >=3.4`,
both are read here as `gcc >= 3.4`; `==` is read as `=`.

Macros: python-rpm-spec (pyrpm) reads the definitions (%define, %global, Name:, Version:,
Release:...) and expands plain macros (%{name}, %version, %{_bindir}). Under them lie rpm's
standard directories (DEFAULT_MACROS), the target's (target_macros: %{?dist}, %{rhel},
%{_libdir}...) and the caller's (--define); the spec's own definitions win, as in rpmbuild.
pyrpm 0.18 ignores conditionals (it reads every line whatever %if guards it), expands
%{!?x:text} whether x is defined or not and counts an empty Epoch: as defined, so this module:
- walks the lines itself and evaluates %if / %elif / %else / %endif, %ifarch / %ifnarch (against
  %{_target_cpu}, the profile's arch) and %ifos / %ifnos with the macros defined above the line;
  lines in false branches never reach pyrpm. An expression rpm could not evaluate (an undefined
  macro left in it) is an error naming the line, as it is for rpmbuild;
- expands %{?x}, %{?x:text}, %{!?x:text}, %{with x}, %{without x} itself, innermost first, and
  honours %bcond_with / %bcond_without / %bcond and one-line `%{?x:%define y v}` definitions.
Only the preamble and %package / %description sections are read: the scan stops at the first
build or file section (%prep, %build, %install, %files...), where no BuildRequires can be.
Not supported: %(shell), %{lua:}, %{expand:}, %include, %undefine, %generate_buildrequires,
multi-line or multi-word %define values (pyrpm keeps the first word), rich dependencies
`(a or b)` (an error says so). %{_isa} is left undefined, so `foo%{?_isa}` means `foo`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyrpm.spec import Spec, replace_macros

from bootstrap.adapters.yum.expr import evaluate, truthy
from bootstrap.errors import ConfigError, UsageError
from bootstrap.types import Profile

# rpm's /usr/lib/rpm/macros as RHEL and Fedora set them; the target adds its CPU and release.
DEFAULT_MACROS: Mapping[str, str] = {
    "nil": "", "_prefix": "/usr", "_exec_prefix": "%{_prefix}", "_bindir": "%{_exec_prefix}/bin",
    "_sbindir": "%{_exec_prefix}/sbin", "_libexecdir": "%{_exec_prefix}/libexec",
    "_datadir": "%{_prefix}/share", "_sysconfdir": "/etc", "_sharedstatedir": "/var/lib",
    "_localstatedir": "/var", "_includedir": "%{_prefix}/include", "_infodir": "%{_datadir}/info",
    "_mandir": "%{_datadir}/man", "_docdir": "%{_datadir}/doc", "_initrddir": "%{_sysconfdir}/rc.d/init.d",
    "_lib": "lib", "_libdir": "%{_prefix}/%{_lib}", "_vendor": "redhat", "_os": "linux",
    "_target_os": "linux", "_target_cpu": "x86_64", "_arch": "%{_target_cpu}",
    "ix86": "i386 i486 i586 i686 pentium3 pentium4 athlon geode", "x86_64": "x86_64 amd64 em64t",
}
_LIB64 = {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "sparc64", "riscv64"}
_RPM_VENDOR_MACRO = {"alma": "almalinux"}  # the macro each EL rebuild defines beside %rhel

_COND = re.compile(r"%(ifarch|ifnarch|ifos|ifnos|if|elifarch|elifnarch|elifos|elifnos|elif|else|endif)\b\s*(.*)")
_STOP = re.compile(r"%(prep|build|install|check|clean|files|changelog|pre|post|preun|postun|pretrans|"
                   r"posttrans|trigger\w*|verifyscript|generate_buildrequires)\b")
_REQUIRES = re.compile(r"(?i)(buildrequires|buildprereq)\s*:\s*(.*)")
_DEFINES = re.compile(r"(?i)%(define|global|package)\s|(name|version|release|epoch)\s*:")
_BCOND = re.compile(r"%(bcond_with|bcond_without|bcond)\s+(\w+)\s*(\S*)")
_ONELINE_DEF = re.compile(r"%\{(!?\?|\?!)(\w+):\s*%(define|global)\s+(\w+)\s+(.*?)\s*\}\s*")
_MACRO = re.compile(r"%%|%\{([^{}]*)\}|%([A-Za-z_]\w*)")
_UNDEFINED = re.compile("\x01([^\x02]*)\x02")
_ATOM = re.compile(r"<=|>=|==|=|<|>|[^\s,<>=]+")
_OPS = {"<", "<=", "=", "==", ">=", ">"}
_TAGS = ("name", "version", "release", "epoch", "summary", "license", "group", "url")
# Expansion bounds: pyrpm's replace_macros defaults to 1000 rounds, and `%define a %{a}%{a}`
# doubles each round (16 rounds: at most 64K times the text); real BuildRequires need a handful.
_ROUNDS = 16
_MAX_TEXT = 1 << 20


@dataclass
class _Frame:
    """One open %if: whether the enclosing text is read, a branch was taken, we are in it."""

    outer: bool
    taken: bool
    active: bool
    line: int
    seen_else: bool = False


@dataclass
class _Reader:
    """The state of one walk over a spec: the lines that define macros (fed to pyrpm), the
    open conditionals, and the BuildRequires lines read so far."""

    source: str
    base: Mapping[str, str]
    defs: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=list)
    requires: list[tuple[int, str]] = field(default_factory=list)
    guarded: int = 0  # BuildRequires lines skipped by a false conditional
    in_text: bool = False  # inside a %description: free text, not tags
    _spec: Spec | None = None
    _parsed: int = -1

    def spec(self) -> Spec:
        """pyrpm's view of the definitions so far, over the base macros (re-read only when a
        definition was added: specs are small, but a parse per line would be quadratic)."""
        if self._spec is None or self._parsed != len(self.defs):
            spec = Spec.from_string("\n".join(self.defs))
            spec.macros = {**self.base, **spec.macros}
            self._spec, self._parsed = spec, len(self.defs)
        return self._spec

    def active(self) -> bool:
        return not self.stack or self.stack[-1].active

    def fail(self, lineno: int, what: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.source}:{lineno}: {what}", hint=hint)


def _defined(name: str, spec: Spec) -> bool:
    if name in spec.macros:
        return True
    return name in _TAGS and getattr(spec, name, None) not in (None, "")


def _expand_one(match: re.Match[str], spec: Spec) -> str:
    """One innermost macro reference; an undefined plain macro becomes \\x01name\\x02 so an
    enclosing %{?x:...} can still be decided (it is put back as %{name} at the end)."""
    body, bare = match.group(1), match.group(2)
    if match.group(0) == "%%":
        return "%%"
    if bare is not None:
        return replace_macros(f"%{{{bare}}}", spec, _ROUNDS) if _defined(bare, spec) else match.group(0)
    cond = re.fullmatch(r"(!?\?|\?!)(\w+)(?::(.*))?", body, re.S)
    if cond is not None:
        negated, name, text = "!" in cond.group(1), cond.group(2), cond.group(3)
        if _defined(name, spec) == negated:
            return ""
        return text if text is not None else ("" if negated else f"%{{{name}}}")
    with_ = re.fullmatch(r"(with|without)\s+(\w+)", body)
    if with_ is not None:
        return str(int(_defined(f"with_{with_.group(2)}", spec) == (with_.group(1) == "with")))
    if re.fullmatch(r"\w+", body) and _defined(body, spec):
        return replace_macros(f"%{{{body}}}", spec, _ROUNDS)
    return f"\x01{body}\x02"


def expand(text: str, spec: Spec) -> str:
    """`text` with every macro pyrpm and this module know expanded; unknown ones are left as
    %{name} (callers decide whether that is an error). ValueError on runaway recursion."""
    for _ in range(_ROUNDS):
        try:
            new = _MACRO.sub(lambda m: _expand_one(m, spec), text)
        except RuntimeError:  # pyrpm's rounds ran out
            break
        if len(new) > _MAX_TEXT:
            break
        if new == text:
            return _UNDEFINED.sub(r"%{\1}", new).replace("%%", "%")
        text = new
    raise ValueError("macros expand without end (a recursive definition?)")


def _condition(reader: _Reader, lineno: int, kind: str, arg: str) -> bool:
    """Whether `%<kind> <arg>` holds, with the macros defined so far."""
    spec = reader.spec()
    want = spec.macros.get("_target_cpu" if kind.endswith("arch") else "_target_os", "")
    try:
        text, want = expand(arg, spec), expand(want, spec)
    except ValueError as exc:
        raise reader.fail(lineno, f"%{kind} {arg}: {exc}") from None
    if kind.endswith(("arch", "os")):
        return (want in re.split(r"[\s,]+", text)) != kind.startswith("ifn")
    try:
        return truthy(evaluate(text))
    except ValueError as exc:
        missing = re.search(r"%\{?[\w?!]+\}?", text)
        hint = (f"define it: --define '{missing.group(0).strip('%{}?!')} VALUE' (as rpmbuild --define)"
                if missing else None)
        shown = f" (expanded: {text.strip()!r})" if text.strip() != arg.strip() else ""
        raise reader.fail(lineno, f"cannot evaluate %{kind} {arg.strip()}{shown}: {exc}", hint=hint) from None


def _conditional(reader: _Reader, lineno: int, kind: str, arg: str) -> None:
    """Push, switch or pop a %if frame."""
    if kind.startswith("if"):
        outer = reader.active()
        holds = outer and _condition(reader, lineno, kind, arg)
        reader.stack.append(_Frame(outer, holds, holds, lineno))
        return
    if not reader.stack:
        raise reader.fail(lineno, f"%{kind} without %if")
    frame = reader.stack[-1]
    if kind == "endif":
        reader.stack.pop()
    elif frame.seen_else:
        raise reader.fail(lineno, f"%{kind} after %else (the %if is on line {frame.line})")
    elif kind == "else":
        frame.active, frame.taken, frame.seen_else = frame.outer and not frame.taken, True, True
    else:  # %elif*: rpm 4.15's chains
        holds = frame.outer and not frame.taken and _condition(reader, lineno, "if" + kind[4:], arg)
        frame.active, frame.taken = holds, frame.taken or holds


def _definition(reader: _Reader, line: str) -> None:
    """Record a line that defines macros (read only when active)."""
    bcond = _BCOND.fullmatch(line)
    if bcond is not None:
        kind, name, default = bcond.groups()
        spec = reader.spec()
        on = {"bcond_with": _defined(f"_with_{name}", spec),
              "bcond_without": not _defined(f"_without_{name}", spec),
              "bcond": _defined(f"_with_{name}", spec) or (default not in ("", "0")
                                                            and not _defined(f"_without_{name}", spec))}[kind]
        if on:
            reader.defs.append(f"%global with_{name} 1")
        return
    oneline = _ONELINE_DEF.fullmatch(line)
    if oneline is not None:
        negated = "!" in oneline.group(1)
        if _defined(oneline.group(2), reader.spec()) != negated:
            reader.defs.append(f"%{oneline.group(3)} {oneline.group(4)} {oneline.group(5)}")
        return
    if _DEFINES.match(line):
        reader.defs.append(line)


def _walk(text: str, reader: _Reader) -> None:
    """Read the preamble and %package sections: conditionals, definitions, BuildRequires."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cond = _COND.fullmatch(line)
        if cond is not None:
            _conditional(reader, lineno, cond.group(1), cond.group(2))
            continue
        if _STOP.match(line):
            break
        if re.match(r"%(description|package)\b", line):
            reader.in_text = line.startswith("%description")
        elif reader.in_text and not line.startswith("%"):
            continue  # a description's text, even if a line of it reads "Name: ..."
        requires = _REQUIRES.fullmatch(line)
        if requires is not None:
            if reader.active():
                reader.requires.append((lineno, requires.group(2)))
            else:
                reader.guarded += 1
        elif reader.active():
            _definition(reader, line)
    else:
        if reader.stack:
            raise reader.fail(reader.stack[-1].line, "%if without %endif")


def _atoms(reader: _Reader, lineno: int, value: str, spec: Spec) -> list[str]:
    """The requests of one BuildRequires value: `a, b >= 1 c` → ["a", "b >= 1", "c"]."""
    try:
        text = expand(value, spec)
    except ValueError as exc:
        raise reader.fail(lineno, f"BuildRequires: {value}: {exc}") from None
    left = re.search(r"%\{?[^\s}]*\}?", text)
    if left is not None:
        name = left.group(0).strip("%{}?!")
        raise reader.fail(lineno, f"BuildRequires: {value}: macro {left.group(0)} is not defined",
                          hint=f"define it: --define '{name} VALUE' (as rpmbuild --define)")
    if text.lstrip().startswith("("):
        raise reader.fail(lineno, f"BuildRequires: {text.strip()}: rich (boolean) dependencies are not supported",
                          hint="list one of the alternatives with --include instead")
    words, out = _ATOM.findall(text), []
    while words:
        name = words.pop(0)
        if name in _OPS:
            raise reader.fail(lineno, f"BuildRequires: {text.strip()}: {name} without a package name before it")
        if words and words[0] in _OPS:
            if len(words) < 2 or words[1] in _OPS:
                raise reader.fail(lineno, f"BuildRequires: {text.strip()}: {name} {words[0]} without a version")
            op, version = words.pop(0), words.pop(0)
            out.append(f"{name} {'=' if op == '==' else op} {version}")
        else:
            out.append(name)
    return out


def buildrequires(text: str, macros: Mapping[str, str] | None = None, *, source: str = "spec") -> list[str]:
    """The BuildRequires of the spec `text` as request strings, in order, without duplicates.

    `macros` are definitions under the spec's own (target_macros(), --define); `source` names
    the file in messages. Raises ConfigError (naming `source:line`) for an unbalanced or
    unevaluable conditional, an undefined macro in a BuildRequires, a rich dependency, a text
    that is no spec (no Name:), and a spec with no BuildRequires for this target.
    """
    base = {**DEFAULT_MACROS, **(macros or {})}
    if "_lib" not in (macros or {}):  # rpm's platform sets it: lib64 on 64-bit multilib targets
        base["_lib"] = "lib64" if base["_target_cpu"] in _LIB64 else "lib"
    reader = _Reader(source, base)
    _walk(text, reader)
    spec = reader.spec()
    if spec.name is None:
        raise ConfigError(f"{source} is not an rpm spec file: it has no Name: line",
                          hint="--buildrequires takes a .spec file "
                               "(for a .src.rpm: rpm2cpio X.src.rpm | cpio -i '*.spec')")
    requests: list[str] = []
    for lineno, value in reader.requires:
        requests += [r for r in _atoms(reader, lineno, value, spec) if r not in requests]
    if not requests:
        why = f" ({reader.guarded} are in %if branches false for this target)" if reader.guarded else ""
        raise ConfigError(f"{source} has no BuildRequires or BuildPrereq line{why}",
                          hint="nothing to add from it; give the packages with --include")
    return requests


def read_spec(path: str | Path) -> str:
    """The text of the spec file at `path` (UTF-8, or Latin-1 as old changelogs are).
    UsageError if it cannot be read, ConfigError if it is binary."""
    takes = "--buildrequires takes the path of a .spec file"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"spec file {path} does not exist", hint=takes) from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a spec file", hint=takes) from None
    except OSError as exc:
        raise UsageError(f"cannot read spec file {path}: {exc.strerror}") from None
    if b"\0" in data:
        raise ConfigError(f"{path} is not an rpm spec file (binary data)",
                          hint="for a .src.rpm, extract its spec first: rpm2cpio X.src.rpm | cpio -i '*.spec'")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def target_macros(profile: Profile) -> dict[str, str]:
    """The macros a build root of `profile` would define: %{_target_cpu} (hence %{_lib}), %{?dist},
    %{rhel} / %{fedora} (and %{el4}, %{fc3}, %{centos}...), %{releasever}."""
    major = profile.release.split(".")[0]
    arch = profile.arch
    macros = {"_target_cpu": arch, "releasever": profile.options.get("releasever", profile.release)}
    if profile.vendor == "fedora":
        macros.update({"fedora": major, "dist": f".fc{major}", f"fc{major}": "1"})
    else:
        vendor = _RPM_VENDOR_MACRO.get(profile.vendor, profile.vendor)
        macros.update({"rhel": major, "dist": f".el{major}", f"el{major}": "1", vendor: major})
    return macros


def parse_defines(defines: Sequence[str]) -> dict[str, str]:
    """--define 'NAME VALUE' (rpmbuild's form; a leading % is allowed) → {NAME: VALUE}."""
    out: dict[str, str] = {}
    for item in defines:
        match = re.fullmatch(r"\s*%?(\w+)\s+(.*?)\s*", item, re.S)
        if match is None:
            raise UsageError(f"--define {item!r}: expected 'NAME VALUE'", hint="as rpmbuild: --define 'rhel 4'")
        out[match.group(1)] = match.group(2)
    return out


def spec_requests(paths: Sequence[str], profile: Profile, defines: Sequence[str] = ()) -> list[str]:
    """The requests of --buildrequires: every spec's BuildRequires for `profile`, in order."""
    if profile.family != "yum":
        raise UsageError(f"--buildrequires reads rpm spec files; {profile.name} is not an rpm distribution",
                         hint="use it with an rpm profile (centos4.3, fedora-core3, rocky9...)")
    macros = {**target_macros(profile), **parse_defines(defines)}
    requests: list[str] = []
    for path in paths:
        requests += [r for r in buildrequires(read_spec(path), macros, source=Path(path).name) if r not in requests]
    return requests
