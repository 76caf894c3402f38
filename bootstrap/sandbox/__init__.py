"""Running commands inside the new root: mode detection, the chroot / user-namespace runner,
the mounts a chroot needs, and the no-sync seccomp filter."""
from bootstrap.errors import CommandFailed
from bootstrap.sandbox.mounts import mounts_under, release_mounts_under, signals_held
from bootstrap.sandbox.runner import BASE_ENV, MODES, ChrootRunner, detect_mode, unshare_unavailable
from bootstrap.sandbox.userns import subordinate_range

__all__ = ["BASE_ENV", "MODES", "ChrootRunner", "CommandFailed", "detect_mode", "mounts_under",
           "release_mounts_under", "signals_held", "subordinate_range", "unshare_unavailable"]
