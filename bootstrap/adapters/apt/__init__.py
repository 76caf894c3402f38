"""The apt family (Debian, Ubuntu): InRelease/Packages indexes, .deb payloads, dpkg's database."""
from bootstrap.adapters.apt.adapter import AptAdapter

__all__ = ["AptAdapter"]
