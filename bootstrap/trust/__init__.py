"""Signature checks. `openpgp` verifies OpenPGP signatures (apt's InRelease/Release.gpg, yum's
repomd.xml.asc) with gpgv against explicit keyrings; other schemes (apk's RSA) live beside it."""
