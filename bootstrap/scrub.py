"""What no image may carry of the machine or the moment it was built in, whatever the family:
run after the family's own cleanup, through the root handle only.

- /etc/machine-id is emptied (kept, with its mode: systemd expects the file, and makes an
  identity at first boot, as mmdebstrap and debuerreotype leave it); /var/lib/dbus/machine-id
  is removed;
- ldconfig's /var/cache/ldconfig/aux-cache (file times of the build host's moment);
- the contents of /tmp and of /run (but /run/lock), where scripts and the tool left files.
The family's own caches, logs and databases' leftovers are its adapter's `cleanup`.
Shared code: names no family.
"""
from __future__ import annotations

import stat

from bootstrap.root import Root

_REMOVED = ("var/lib/dbus/machine-id", "var/cache/ldconfig/aux-cache")
_EMPTIED_DIRS = (("tmp", ()), ("run", ("lock",)))


def scrub(root: Root) -> None:
    """Remove the build's traces listed in the module docstring."""
    for name in _REMOVED:
        # The link itself first (lstat): a link, even one that loops, is only ever removed.
        if root.is_symlink(name) or root.is_file(name):
            root.unlink(name)
    machine_id = "etc/machine-id"
    if not root.is_symlink(machine_id) and root.is_file(machine_id):
        root.write_bytes(machine_id, b"", mode=stat.S_IMODE(root.stat(machine_id).st_mode))
    for directory, keep in _EMPTIED_DIRS:
        if not root.is_symlink(directory) and root.is_dir(directory):
            for name in root.listdir(directory):
                if name not in keep:
                    root.remove_tree(f"{directory}/{name}")
