"""apk-tools' order of decisions (solver.c apk_solver_solve), for `ResolvePolicy.decide_by_name`.

apk decides names, not rules: of the names still unresolved it takes a name that has
requirers and one option left, else the least by compare_name_dequeue: (database.c
name->priority) names only packages of that name have (0) before names some also provide
(1) before names only provided (2), then the longest dependency chain below the name first
(discover_name's max_dep_chain). Ties go to the name queued last (the unresolved list is
LIFO). `NameOrder.key(name)` is (priority, -chain); pure, memoized, cycles count as 0 (a
name being discovered has no chain yet, as in discover_name).

`NameOrder.discovered(requested)` is discover_name's closure: a requested name, the names the
dependencies of its providers name, and the install_if names that have a trigger on a
discovered name. Only those install_if names are ever considered (reevaluate_reverse_installif
skips unseen names): a package that comes in only as the provider of a virtual name does not
make its own name seen, so its install_if followers are not installed.
"""
from __future__ import annotations

from bootstrap.resolve.index import Universe
from bootstrap.types import Package


class NameOrder:
    """compare_name_dequeue's key for each name of a universe (see the module docstring)."""

    def __init__(self, universe: Universe) -> None:
        self.u = universe
        self._chain: dict[str, int] = {}
        self._pkg_chain: dict[int, int] = {}

    def discovered(self, requested: list[str]) -> set[str]:
        """The names apk's discover_name reaches from `requested` (see the module docstring)."""
        on, _ = self.u.trigger_index()
        seen: set[str] = set()
        todo = list(requested)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            pkgs = list(self.u.versions(name)) + [p for p, _ in self.u.providers.get(name, ())]
            todo += [alt.name for pkg in pkgs for dep in pkg.depends for alt in dep if not alt.negated]
            todo += [follower for follower, _ in on.get(name, ())]
        return seen

    def key(self, name: str) -> tuple[int, int]:
        return (self._priority(name), -self._name_chain(name))

    def _priority(self, name: str) -> int:
        real = bool(self.u.versions(name))
        virtual = any(pkg.name != name and pkg.arch in self.u.ranks for pkg, _ in self.u.providers.get(name, ()))
        return 0 if not virtual else (1 if real else 2)

    def _name_chain(self, name: str) -> int:
        found = self._chain.get(name)
        if found is not None:
            return found
        self._chain[name] = 0  # being discovered: a cycle back here adds nothing
        pkgs = list(self.u.versions(name)) + [p for p, _ in self.u.providers.get(name, ()) if p.arch in self.u.ranks]
        chain = max((self._package_chain(p) for p in pkgs), default=0)
        self._chain[name] = chain
        return chain

    def _package_chain(self, pkg: Package) -> int:
        found = self._pkg_chain.get(id(pkg))
        if found is None:
            self._pkg_chain[id(pkg)] = 0
            found = max((self._name_chain(alt.name) + 1 for dep in pkg.depends for alt in dep
                         if not alt.negated), default=0)
            self._pkg_chain[id(pkg)] = found
        return found
