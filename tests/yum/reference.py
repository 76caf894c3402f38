"""libsolv's `testsolv` as the reference resolver for the rpm family (what dnf would install).

A scenario is a list of `RpmSpec` (packages as an rpm header / primary.xml states them: name,
epoch, version, release, arch and the dependency texts in rpm's own spelling, `a >= 1:2-3` or a
rich `(a if b else c)`) and the names given to `dnf install`. From it:

- `primary_xml(specs)` writes primary.xml and `packages(specs)` parses it back with the yum
  adapter's own parser (bootstrap/adapters/yum/primary.py), so the parser is exercised too;
- `testcase(specs, requests, arch)` writes a libsolv testcase (ext/testcase.c format) with the
  jobs and solver flags dnf uses for `dnf install NAMES` into an empty installroot;
- `solve(specs, requests, arch)` runs /usr/bin/testsolv (one process per scenario: a testcase
  file is one pool, so scenarios cannot share one) and returns its `Outcome`.

What dnf does, and so what the testcase says (dnf/base.py `install`, libdnf's
python/hawkey/__init__.py `Subject._get_best_selectors`, libdnf/goal/Goal.cpp):
- a request naming packages selects them all (every version and arch) plus the packages whose
  Obsoletes match the newest of them per arch (libdnf Query filterObsoletes: pool_match_nevr,
  not provides), as one `SOLVER_SOLVABLE_ONE_OF` job (`job install oneof ...`); a request
  naming no package selects its providers (`job install provides X`, the same set dnf's
  provides query gives); libdnf's sltrToJob adds SOLVER_SETARCH|SOLVER_SETEVR to the job,
  and SETARCH makes libsolv drop the infarch (lock-step) rules of the selected names
  (solver.c jobtodisablelist, DISABLE_INFARCH): `dnf install a` may take a.i686;
- pool flags as Fedora's libsolv build has them (POOL_FLAGS);
- solver flags from Goal::Impl::initSolver: allowvendorchange, keeporphans, bestobeypolicy,
  yumobsoletes; ignorerecommended because the tool installs no weak dependencies (the resolver
  never reads Package.recommends); dnf's `best` option adds SOLVER_FORCEBEST to every job, but
  its default is False (libdnf ConfigMain `best{false}`, dnf's shipped dnf.conf `best=False`),
  which is what `best=False` here gives; `best=True` is RHEL's dnf.conf.
"""
from __future__ import annotations

import io
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from bootstrap.adapters.yum.primary import parse_primary
from bootstrap.adapters.yum.version import compare_evr, evr_satisfies, format_evr
from bootstrap.types import Package

TESTSOLV = "/usr/bin/testsolv"
SOLVER_FLAGS = ("allowvendorchange", "dupallowvendorchange", "keeporphans", "bestobeypolicy", "yumobsoletes",
                "ignorerecommended")
# Fedora's and RHEL's libsolv is built with -DFEDORA (CMakeLists.txt option FEDORA), which makes
# pool_create set implicitobsoleteusescolors: x86_64 and i686 builds of one name may both be
# installed (pool_colormatch), infarch rules are lock-step rules. Debian's build does not, and
# testcase_read resets pool flags to their defaults: the testcase sets it.
POOL_FLAGS = ("implicitobsoleteusescolors",)
_OPS = ("<=", ">=", "=", "<", ">")
_FLAGS = {"<": "LT", "<=": "LE", "=": "EQ", ">=": "GE", ">": "GT"}
_RICH_OPS = {"and": "&", "or": "|", "with": "+", "without": "-"}
_KEYWORDS = {"and", "or", "if", "else", "unless", "with", "without"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*")


@dataclass(frozen=True)
class RpmSpec:
    """One package as its header states it. Dependency texts are rpm's: `name`, `name OP EVR`
    (OP one of < <= = >= >, EVR `[epoch:]version[-release]`) or a rich `(...)` (requires and
    conflicts only). `epoch` "" means none (0); `rel` "" means none."""

    name: str
    ver: str
    rel: str = "1"
    arch: str = "x86_64"
    epoch: str = ""
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    obsoletes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    suggests: tuple[str, ...] = ()
    supplements: tuple[str, ...] = ()
    enhances: tuple[str, ...] = ()

    @property
    def evr(self) -> str:
        """`[epoch:]version[-release]` as the pipeline and libsolv both print it."""
        return format_evr(self.epoch, self.ver, self.rel or None)

    @property
    def nevra(self) -> str:
        """`name-evr.arch`: how testsolv names the package (without its `@repo`)."""
        return f"{self.name}-{self.evr}.{self.arch}"


@dataclass(frozen=True)
class Outcome:
    """What a resolver made of a scenario: the installed `name-evr.arch` set, or None when it
    failed (then `problems` says why, for libsolv its problem lines)."""

    installed: frozenset[str] | None
    problems: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        if self.installed is None:
            return "FAIL " + "; ".join(self.problems)
        return " ".join(sorted(self.installed))


def nevra(pkg: Package, arches: dict[str, str] | None = None) -> str:
    """A resolver Package as testsolv names it; `arches` renames architectures (amd64→x86_64)."""
    return f"{pkg.name}-{pkg.version}.{(arches or {}).get(pkg.arch, pkg.arch)}"


# -- dependency texts -----------------------------------------------------------------------

def split_relation(text: str) -> tuple[str, str | None, str | None]:
    """(name, op, evr) of a plain rpm dependency text (`a`, `a >= 1:2-3`)."""
    words = text.split()
    if len(words) == 1:
        return words[0], None, None
    if len(words) == 3 and words[1] in _OPS:
        return words[0], words[1], words[2]
    raise ValueError(f"not an rpm relation: {text!r}")


def _split_evr(evr: str) -> tuple[str, str, str]:
    """(epoch or "0", version, release or "") of an EVR text."""
    epoch, _, rest = evr.rpartition(":") if ":" in evr else ("0", "", evr)
    ver, _, rel = rest.partition("-")
    return epoch or "0", ver, rel


def testcase_dep(text: str) -> str:
    """An rpm dependency text in testcase syntax (ext/repo_testcase.c oplist): rich operators
    become `&`, `|`, `+`, `-`, `<IF>`, `<UNLESS>` with `else` as `A <IF> (B <ELSE> C)`."""
    if not text.startswith("("):
        name, op, evr = split_relation(text)
        return name if op is None else f"{name} {op} {evr}"
    tokens = _TOKEN.findall(text)
    out, pos = _rich_group(tokens, 0)
    if pos != len(tokens):
        raise ValueError(f"trailing text in {text!r}")
    return out


def _rich_group(tokens: list[str], pos: int) -> tuple[str, int]:
    """The group opening at tokens[pos] in testcase syntax, and the position after it."""
    if tokens[pos] != "(":
        raise ValueError("a rich dependency group starts with '('")
    pos += 1
    operands: list[str] = []
    ops: list[str] = []
    while True:
        if tokens[pos] == "(":
            sub, pos = _rich_group(tokens, pos)
            operands.append(sub)
        else:
            words = []
            while tokens[pos] not in ("(", ")") and tokens[pos] not in _KEYWORDS:
                words.append(tokens[pos])
                pos += 1
            dep = testcase_dep(" ".join(words))
            operands.append(f"({dep})" if len(words) > 1 else dep)
        if tokens[pos] == ")":
            return _rich_join(ops, operands), pos + 1
        ops.append(tokens[pos])
        pos += 1


def _rich_join(ops: list[str], operands: list[str]) -> str:
    if not ops:
        return operands[0]
    if ops[0] in ("if", "unless"):
        cond = operands[1] if len(ops) == 1 else f"({operands[1]} <ELSE> {operands[2]})"
        return f"({operands[0]} <{ops[0].upper()}> {cond})"
    if any(op != ops[0] for op in ops) or ops[0] not in _RICH_OPS:
        raise ValueError(f"bad rich operators {ops}")
    return "(" + f" {_RICH_OPS[ops[0]]} ".join(operands) + ")"


# -- primary.xml ----------------------------------------------------------------------------

def _entries(tag: str, texts: Sequence[str]) -> str:
    if not texts:
        return ""
    lines = []
    for text in texts:
        if text.startswith("("):
            lines.append(f"<rpm:entry name={quoteattr(text)}/>")
            continue
        name, op, evr = split_relation(text)
        if op is None or evr is None:
            lines.append(f"<rpm:entry name={quoteattr(name)}/>")
            continue
        epoch, ver, rel = _split_evr(evr)
        attrs = f' epoch="{epoch}" ver={quoteattr(ver)}' + (f" rel={quoteattr(rel)}" if rel else "")
        lines.append(f'<rpm:entry name={quoteattr(name)} flags="{_FLAGS[op]}"{attrs}/>')
    return f"<rpm:{tag}>" + "".join(lines) + f"</rpm:{tag}>"


def primary_xml(specs: Sequence[RpmSpec]) -> bytes:
    """primary.xml as createrepo writes it: the self-provide `name = EVR` listed first."""
    body = []
    for i, s in enumerate(specs):
        provides = (f"{s.name} = {s.evr}", *s.provides)
        files = "".join(f"<file>{f}</file>" for f in s.files)
        body.append(
            f'<package type="rpm"><name>{s.name}</name><arch>{s.arch}</arch>'
            f'<version epoch="{s.epoch or 0}" ver={quoteattr(s.ver)} rel={quoteattr(s.rel)}/>'
            f'<checksum type="sha256" pkgid="YES">{i:064x}</checksum>'
            f'<location href="Packages/{s.nevra}.rpm"/><format>'
            + _entries("provides", provides) + _entries("requires", s.requires)
            + _entries("conflicts", s.conflicts) + _entries("obsoletes", s.obsoletes)
            + "".join(_entries(tag, texts) for tag, texts in _weak(s) if texts)
            + files + "</format></package>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<metadata xmlns="http://linux.duke.edu/metadata/common" '
            f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(specs)}">'
            + "".join(body) + "</metadata>\n").encode()


# The weak relations' primary.xml elements and testcase tags (ext/repo_testcase.c tags).
_TAGS = {"recommends": "Rec", "suggests": "Sug", "supplements": "Sup", "enhances": "Enh"}


def _weak(s: RpmSpec) -> list[tuple[str, tuple[str, ...]]]:
    return [("recommends", s.recommends), ("suggests", s.suggests), ("supplements", s.supplements),
            ("enhances", s.enhances)]


def packages(specs: Sequence[RpmSpec]) -> list[Package]:
    """The specs as the yum adapter reads them: primary.xml through parse_primary."""
    return parse_primary(io.BytesIO(primary_xml(specs)), "file:///mirror/", "available")


# -- the testcase ---------------------------------------------------------------------------

def _pkg_block(s: RpmSpec) -> list[str]:
    """`#>=Pkg:` and its tags; testtags add the self-provide (no `=Ver: 3`)."""
    version = f"{s.epoch}:{s.ver}" if s.epoch and s.epoch != "0" else s.ver
    lines = [f"#>=Pkg: {s.name} {version} {s.rel or '-'} {s.arch}"]
    tags = [("Req", s.requires), ("Prv", s.provides), ("Con", s.conflicts), ("Obs", s.obsoletes),
            *((_TAGS[tag], texts) for tag, texts in _weak(s))]
    for tag, texts in tags:
        lines += [f"#>={tag}: {testcase_dep(t)}" for t in texts]
    lines += [f"#>=Fls: {f}" for f in s.files]
    return lines


def _obsoletes_nevr(obs: str, target: RpmSpec) -> bool:
    """Whether an Obsoletes text matches `target`'s own name and EVR (pool_match_nevr)."""
    if obs.startswith("("):
        return False
    name, op, evr = split_relation(obs)
    return name == target.name and (op is None or evr_satisfies(target.evr, op, evr or ""))


def request_job(specs: Sequence[RpmSpec], request: str) -> str:
    """The selection dnf makes of `dnf install REQUEST` (see the module docstring); a request
    with a version (`a >= 2`) is a provides selection, as dnf's Subject reads it."""
    named = [s for s in specs if s.name == request]
    if not named:
        return f"provides {testcase_dep(request)}"
    newest: dict[str, RpmSpec] = {}
    for s in named:
        if s.arch not in newest or compare_evr(s.evr, newest[s.arch].evr) > 0:
            newest[s.arch] = s
    chosen = list(named)
    chosen += [s for s in specs if s not in chosen
               and any(_obsoletes_nevr(o, t) for o in s.obsoletes for t in newest.values())]
    return "oneof " + " ".join(f"{s.nevra}@available" for s in chosen)


def testcase(specs: Sequence[RpmSpec], requests: Sequence[str], arch: str = "x86_64",
             best: bool = False) -> str:
    """The whole testcase: pool flags, an empty system repo, the specs in `available`, one
    install job per request (flagged setarch,setevr as libdnf does, plus forcebest with dnf's
    best=True), and a `result` line asking for the transaction and problems (printed by
    `testsolv -r`)."""
    lines = ["poolflags " + " ".join(POOL_FLAGS), "repo system 0 testtags <inline>",
             "repo available 0 testtags <inline>"]
    for s in specs:
        lines += _pkg_block(s)
    lines += [f"system {arch} rpm system", "solverflags " + " ".join(SOLVER_FLAGS)]
    flags = "[forcebest,setarch,setevr]" if best else "[setarch,setevr]"
    lines += [f"job install {request_job(specs, r)} {flags}" for r in requests]
    lines.append("result transaction,problems <inline>")
    return "\n".join(lines) + "\n"


def run_testsolv(text: str) -> Outcome:
    """Run testsolv on a testcase text. Any line other than `install`/`problem`, an error
    message or a non-zero exit raises RuntimeError (the translation is then wrong)."""
    with tempfile.NamedTemporaryFile("w", suffix=".t", prefix="ref-rpm-") as f:
        f.write(text)
        f.flush()
        done = subprocess.run([TESTSOLV, "-r", f.name], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"testsolv failed ({done.returncode}): {done.stderr.strip()}\n{text}")
    installed: set[str] = set()
    problems: list[str] = []
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "install":
            installed.add(rest.removesuffix("@available"))
        elif word == "problem":
            problems.append(rest.split(" ", 1)[1])
        elif line.strip():
            raise RuntimeError(f"unexpected testsolv output {line!r}\n{text}")
    if problems:
        return Outcome(None, tuple(problems))
    return Outcome(frozenset(installed))


def solve(specs: Sequence[RpmSpec], requests: Sequence[str], arch: str = "x86_64",
          best: bool = False) -> Outcome:
    """libsolv's answer, as dnf would give it, for `dnf install REQUESTS` on an empty root."""
    return run_testsolv(testcase(specs, requests, arch, best))


def write_testcase(path: Path, specs: Sequence[RpmSpec], requests: Sequence[str],
                   arch: str = "x86_64") -> None:
    """Save the testcase (to rerun by hand: `testsolv -r FILE`)."""
    path.write_text(testcase(specs, requests, arch))
