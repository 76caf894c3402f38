"""The apk family (Alpine): APKINDEX repositories, .apk payloads, apk-tools' database."""
from bootstrap.adapters.apk.adapter import ApkAdapter

__all__ = ["ApkAdapter"]
