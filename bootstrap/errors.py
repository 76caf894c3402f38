"""The library's one exception family: every error a user can cause is a BootstrapError.

Contract: `message` is one line saying what went wrong in the user's terms; `hint` (optional)
says what to do about it. The CLI prints `error: <message>` and `hint: <hint>` and exits with
`exit_code`; nothing else in the library exits or prints tracebacks for these.
"""
from __future__ import annotations

import errno
from collections.abc import Sequence


class BootstrapError(Exception):
    """Base class: a failure a user can cause or fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(BootstrapError):
    """Bad command-line input (unknown option value, conflicting flags)."""

    exit_code = 2


class ConfigError(BootstrapError):
    """A profile, repos.d file or mirror setting is missing or wrong."""

    exit_code = 2


class ProfileNotFound(ConfigError):
    """The profile name matches no known release."""


class LockError(ConfigError):
    """A lock file cannot be read, is of another format version, or does not fit the build
    asked for (another profile or architecture)."""


class FetchError(BootstrapError):
    """A download failed: unreachable mirror, HTTP error, file missing."""

    exit_code = 3


class ChecksumError(FetchError):
    """A downloaded file does not match the digest its index gives."""


class Unreachable(FetchError):
    """The mirror's host could not be reached at all (after the retries): `reason` is one of
    "name resolution failed", "connection refused", "timed out" (no answer in time) or
    "TLS: ..." (the handshake or the certificate failed); `host` is HOST or HOST:PORT as the
    URL gives it, `url` the file asked for. Not "the file is missing": nothing answered."""

    def __init__(self, message: str, hint: str | None = None, *, url: str = "", host: str = "",
                 reason: str = "") -> None:
        super().__init__(message, hint)
        self.url = url
        self.host = host
        self.reason = reason


class RegistryError(BootstrapError):
    """A container registry refused or failed a request (unreachable, credentials refused, an
    error answer), or answered something that does not check (a digest that differs)."""

    exit_code = 3


class VerificationError(BootstrapError):
    """A signature is missing, bad, or made by a key that is not trusted."""

    exit_code = 4


class UnknownSigner(VerificationError):
    """No signature is by a key we hold (the file is unsigned, or signed only by keys we do not
    have): not a forgery, just not vouched for by a held key. A bad signature by a held key is
    a plain VerificationError."""


class StaleIndex(VerificationError):
    """A validly signed index that is out of date: expired (Valid-Until), dated ahead of the
    clock, or older than one this cache already saw (a frozen or replayed mirror)."""


class RepositoryIndexError(BootstrapError):
    """A repository index cannot be parsed or lacks what the release needs."""

    exit_code = 3


class RepositoryNotFound(RepositoryIndexError):
    """The mirror has no such repository (no Release/InRelease, no repomd.xml, no APKINDEX)."""


class ResolveError(BootstrapError):
    """Dependencies cannot be satisfied; the message names the chain."""

    exit_code = 5


class UnpackError(BootstrapError):
    """A payload is corrupt or tries to write outside the root."""

    exit_code = 6


class UnsafePathError(UnpackError):
    """An archive entry would land outside the root (`..`, absolute path, symlink escape)."""


class ConfigureError(BootstrapError):
    """The second stage inside the root failed (maintainer script, package DB)."""

    exit_code = 7


class CommandFailed(ConfigureError):
    """A command inside the root exited non-zero; `output` holds its last lines."""

    def __init__(self, message: str, hint: str | None = None, *, argv: Sequence[str] = (),
                 status: int | None = None, output: Sequence[str] = ()) -> None:
        super().__init__(message, hint)
        self.argv = tuple(argv)
        self.status = status
        self.output = tuple(output)


class PackError(BootstrapError):
    """Writing the output failed (full disk, unwritable path)."""

    exit_code = 8


class WorkspaceError(BootstrapError):
    """The tool cannot write where it works: the download cache or the build root (TMPDIR, or
    beside a directory output). Never a mirror's fault, so never a reason to try another
    mirror. The output's own failures are PackError."""

    exit_code = 9


class NoSpaceError(WorkspaceError):
    """The workspace's file system filled up (ENOSPC, EDQUOT); the message names the place, the
    hint what to free or move."""


# "No space left on device" and "Disk quota exceeded": both mean the file system is full for us.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class Interrupted(BootstrapError):
    """The user pressed Ctrl-C; everything was cleaned up."""

    exit_code = 130
