"""rootfs-bootstrap: root filesystems from yum, apk and apt mirrors."""
__version__ = "0.1.0"
