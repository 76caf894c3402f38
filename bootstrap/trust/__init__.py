"""Signature checks, generic over what is signed: `openpgp` verifies OpenPGP signatures with
gpgv against explicit keyrings (signed indexes), `rsa` verifies RSA PKCS#1 v1.5 signatures
against named PEM keys. Which files a family signs, and how its signatures are named, is the
family's knowledge (adapters/<family>/)."""
# `rsa` (and with it `cryptography`, 30 ms to import) loads only for the families that use it:
# `from bootstrap.trust import rsa` imports the submodule then.
from bootstrap.trust.openpgp import strip_clearsign, verify_detached, verify_inline

__all__ = ["strip_clearsign", "verify_detached", "verify_inline"]
