"""What the resolver returns, and the hooks it calls while it works."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bootstrap.types import Package


@dataclass(frozen=True)
class Resolution:
    """The chosen packages in install order (dependencies before dependents, Pre-Depends
    strictly), why each was chosen, and what was given up (excluded dependencies).

    `reasons[name]` is the chain from a request to that package, the package itself last:
    `("build-essential", "g++", "g++-12", "libstdc++-12-dev")`; a request's chain is just its
    own name. Packages added by apk's install_if start from the package that triggered them.
    """

    packages: tuple[Package, ...]
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def why(self, name: str) -> tuple[str, ...]:
        """The chain that brought `name` in, or () when it was not chosen."""
        return tuple(self.reasons.get(name, ()))


class Reporter:
    """No-op hooks the resolver calls (as resolvelib's BaseReporter): subclass and override
    the ones you want, e.g. to show progress or to log each decision with --verbose.

    `choosing` and `chose` are called once per package of the answer, after the search,
    breadth first from the requests (the order of `Resolution.reasons`): the search itself
    tries and takes back choices, which a progress display has no use for.
    """

    def starting(self) -> None:
        """Before anything is chosen."""

    def choosing(self, name: str, candidates: Sequence[Package]) -> None:
        """About to pick among `candidates` (best first) for the relation on `name`."""

    def chose(self, pkg: Package, reason: tuple[str, ...]) -> None:
        """`pkg` was chosen; `reason` is the chain from a request (see Resolution.reasons)."""

    def ending(self) -> None:
        """After the final set and order are known, or before the error is raised."""
