"""From the installed set the search found to the Resolution: install order, the chain that
brought each package in, the warnings, and the Reporter's `choosing`/`chose` calls.

Reasons are found breadth first from the requests, each dependency met by its first installed
candidate, so a package's chain is the shortest one from a request (`build-essential → g++ →
g++-12`). Packages nothing depends on (apk's install_if) start from their first trigger's
chain. The Reporter hears of every package once, in that same order.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from bootstrap.resolve.index import Universe
from bootstrap.resolve.order import install_order
from bootstrap.resolve.result import Reporter, Resolution
from bootstrap.resolve.rules import Encoder, Rule
from bootstrap.types import Package, format_dependency


class _Walk:
    """The breadth-first walk over the installed set."""

    def __init__(self, u: Universe, enc: Encoder, installed: Sequence[Package], reporter: Reporter) -> None:
        self.u, self.enc, self.reporter = u, enc, reporter
        self.chosen = {id(p) for p in installed}
        self.reached: set[int] = set()
        self.reasons: dict[str, tuple[str, ...]] = {}
        self.queue: deque[tuple[Package, tuple[str, ...]]] = deque()
        self.warnings: list[str] = []
        self.found: dict[int, Package | None] = {}

    def visit(self, pkg: Package, chain: tuple[str, ...], rule: Rule | None) -> None:
        if id(pkg) in self.reached:
            return
        self.reached.add(id(pkg))
        self.reasons.setdefault(pkg.name, chain)
        self.queue.append((pkg, chain))
        if rule is not None:
            alt = rule.dep[0] if len(rule.dep) == 1 else next(
                (a for a in rule.dep if not a.negated and self.u.matches(a, pkg)), rule.dep[0])
            self.reporter.choosing(alt.name, rule.candidates)
        self.reporter.chose(pkg, chain)

    def met(self, rule: Rule) -> Package | None:
        """The first installed candidate of `rule` (remembered: the order asks again)."""
        key = id(rule)
        if key in self.found:
            return self.found[key]
        chosen = self.chosen
        found = None
        for cand in rule.candidates:
            if id(cand) in chosen:
                found = cand
                break
        self.found[key] = found
        return found

    def drain(self) -> None:
        while self.queue:
            pkg, chain = self.queue.popleft()
            var = self.enc.var_of[id(pkg)]
            for rule in self.enc.requires.get(var, ()):
                found = self.met(rule)
                if found is not None:
                    self.visit(found, chain + (found.name,), rule)
            for dep, excluded in self.enc.dropped.get(var, ()):
                names = ", ".join(sorted({p.name for p in excluded}))
                self.warnings.append(f"{' → '.join((*chain, format_dependency(dep)))}: only excluded "
                                     f"packages ({names}) can satisfy it; dependency dropped")

    def edges(self, pkg: Package, labels: dict[int, str]) -> tuple[set[str], set[str]]:
        """What `pkg` Pre-Depends on and Depends on (Pre-Depends included), among the
        installed: each dependency's first installed candidate."""
        pre = {id(dep) for dep in pkg.pre_depends}
        strong: set[str] = set()
        weak: set[str] = set()
        for rule in self.enc.requires.get(self.enc.var_of[id(pkg)], ()):
            found = self.met(rule)
            if found is not None:
                weak.add(labels[id(found)])
                if id(rule.dep) in pre:
                    strong.add(labels[id(found)])
        return strong, weak

    def fallback_chain(self, pkg: Package) -> tuple[str, ...]:
        """The chain of a package no first-met dependency reached: an install_if package's
        first trigger's chain, else that of a package one of whose dependencies it meets."""
        for rel in pkg.install_if:
            if rel.negated:
                continue
            for other in self.u.matching(rel):
                if id(other) in self.chosen and other.name in self.reasons:
                    return self.reasons[other.name] + (pkg.name,)
        for var, rules in self.enc.requires.items():
            owner = self.enc.pkg_of[var]
            if id(owner) in self.reached and any(c is pkg for r in rules for c in r.candidates):
                return self.reasons[owner.name] + (pkg.name,)
        return (pkg.name,)


def answer(u: Universe, enc: Encoder, requests: Sequence[Rule], installed: Sequence[Package],
           reporter: Reporter) -> Resolution:
    """The Resolution of the installed set `installed` (in the order the search set them)."""
    walk = _Walk(u, enc, installed, reporter)
    for rule in requests:
        found = walk.met(rule)
        if found is None:
            continue
        walk.visit(found, (found.name,), rule)
        asked = {alt.name for alt in rule.dep}
        if found.name not in asked:
            gone = [a for a in sorted(asked) if any(o is found for p in u.versions(a) for o in u.obsoleters(p))]
            if gone:
                walk.warnings.append(f"{gone[0]} is obsoleted by {found.name}, which is installed instead")
    walk.drain()
    for pkg in installed:
        if id(pkg) not in walk.reached:
            walk.visit(pkg, walk.fallback_chain(pkg), None)
            walk.drain()
    labels = _labels(installed)
    strong: dict[str, set[str]] = {}
    weak: dict[str, set[str]] = {}
    for pkg in installed:
        strong[labels[id(pkg)]], weak[labels[id(pkg)]] = walk.edges(pkg, labels)
    by_label = {labels[id(p)]: p for p in installed}
    packages = tuple(by_label[label] for label in install_order(strong, weak))
    return Resolution(packages=packages,
                      reasons={p.name: walk.reasons[p.name] for p in packages},
                      warnings=tuple(dict.fromkeys(walk.warnings)))


def _labels(installed: Sequence[Package]) -> dict[int, str]:
    """A unique name per package for the ordering: its name, with `:arch` when Multi-Arch:
    same put two of one name in."""
    count: dict[str, int] = {}
    for pkg in installed:
        count[pkg.name] = count.get(pkg.name, 0) + 1
    return {id(p): p.name if count[p.name] == 1 else f"{p.name}:{p.arch}" for p in installed}


