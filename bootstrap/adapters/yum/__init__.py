"""The yum family (CentOS, Fedora, Rocky, Alma): repodata/, .rpm payloads, rpm's database."""
from bootstrap.adapters.yum.adapter import YumAdapter

__all__ = ["YumAdapter"]
