"""apt itself as the judge of the resolver: a universe written as a Packages file, served to
`apt-get -s install` with an empty dpkg status (a fresh root, the bootstrapper's case), and the
packages apt would install read back from its `Inst` lines.

Contracts:
- `packages_file(stanzas)` writes case stanzas (tests/resolve_cases format, lower-case keys)
  as a Packages index apt and `parse_packages` both read: the case's fields, `Priority` from
  `Provider-Priority` (5 required .. 1 extra, none when absent), a Filename and Size.
- `AptJudge(work, arches).install(packages_text, requests)` runs apt-get in `work` (its own
  state, cache, sources and status: nothing of the host's apt is read or written) and returns
  the set of `name=version@arch` apt would install, or raises AptRefused with apt's `E:` lines.
  Requests are package names, `name=version` or `name:arch`, as `apt-get install` takes them.
- `AptJudge.lists(...)`: the same against an index already downloaded (the host mirror's).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

PRIORITY = {5: "required", 4: "important", 3: "standard", 2: "optional", 1: "extra"}
# Case fields written as they are (Provider-Priority becomes Priority).
FIELDS = ("Version", "Architecture", "Pre-Depends", "Depends", "Provides", "Conflicts", "Breaks",
          "Essential", "Multi-Arch")


class AptRefused(Exception):
    """apt found no installable set (its E: lines)."""


def packages_file(stanzas: Sequence[Mapping[str, str]], native: str) -> str:
    """A Packages index of the case's package stanzas, in the case's order."""
    out = []
    for n, s in enumerate(stanzas):
        lines = [f"Package: {s['package']}"]
        for name in FIELDS:
            value = s.get(name.lower(), {"Version": "1.0", "Architecture": native}.get(name, ""))
            if value:
                lines.append(f"{name}: {value}")
        if s.get("provider-priority"):
            lines.append(f"Priority: {PRIORITY[min(max(int(s['provider-priority']), 1), 5)]}")
        lines += [f"Filename: pool/p{n}.deb", "Size: 1"]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


class AptJudge:
    """apt-get -s against a private state directory (see the module docstring)."""

    def __init__(self, work: Path, arches: Sequence[str]) -> None:
        self.work = work
        foreign = [a for a in arches if a not in ("all", arches[0])]
        self.options = ["-o", f"APT::Architecture={arches[0]}",
                        "-o", f"APT::Architectures={','.join([arches[0], *foreign])}",
                        "-o", "APT::Install-Recommends=false", "-o", "Debug::NoLocking=1",
                        "-o", f"Dir::State::status={work / 'status'}", "-o", f"Dir::Cache={work / 'cache'}",
                        "-o", f"Dir::Etc::sourcelist={work / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
                        "-o", "Dir::Etc::preferencesparts=-", "-o", f"Dir::State={work / 'state'}",
                        "-o", "Acquire::GzipIndexes=false", "-o", "APT::Get::List-Cleanup=false"]

    def _fresh(self, sources: str) -> None:
        for sub in ("state", "cache"):
            shutil.rmtree(self.work / sub, ignore_errors=True)
        (self.work / "state/lists/partial").mkdir(parents=True)
        (self.work / "cache/archives/partial").mkdir(parents=True)
        (self.work / "status").write_text("")
        (self.work / "sources.list").write_text(sources)

    def update(self, sources: str) -> None:
        """A fresh state with `sources` (sources.list lines), updated."""
        self._fresh(sources)
        done = subprocess.run(["apt-get", *self.options, "-q", "update"], capture_output=True, text=True)
        # A flat repository's Packages.xz, .gz ... are tried first and fail ("Err:"): only a
        # list that did not land counts.
        if done.returncode != 0 or not list((self.work / "state/lists").glob("*Packages*")):
            raise AssertionError(f"apt-get update failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def install(self, packages_text: str, requests: Sequence[str]) -> set[str]:
        """What apt installs of a flat repository holding `packages_text` (see the module docstring)."""
        repo = self.work / "repo"
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        (repo / "Packages").write_text(packages_text)
        self.update(f"deb [trusted=yes] file:{repo} ./\n")
        return self.simulate(requests)

    def simulate(self, requests: Sequence[str]) -> set[str]:
        """apt-get -s install `requests` against the current state."""
        done = subprocess.run(["apt-get", *self.options, "-s", "install", *requests],
                              capture_output=True, text=True)
        if done.returncode != 0:
            errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith(("E:", " "))]
            raise AptRefused("\n".join(errors)[-2000:])
        return {_installed(line) for line in done.stdout.splitlines() if line.startswith("Inst ")}


_INST = re.compile(r"^Inst (?P<name>[^\s:]+)(?::\S+)? (?:\[[^\]]*\] )?\((?P<version>\S+) .*?\[(?P<arch>[^\]]+)\]\)")


def _installed(line: str) -> str:
    """`Inst name[:arch] (version origin [arch]) [...]` → `name=version@arch`."""
    m = _INST.match(line)
    assert m, line
    return f"{m['name']}={m['version']}@{m['arch']}"
