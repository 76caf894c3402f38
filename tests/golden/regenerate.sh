#!/bin/sh
# Rewrite the golden listings from the current packer (run as root: the tree has a device
# node and a capability), then review `git diff tests/golden` before committing.
set -e
cd "$(dirname "$0")/../.."
REGENERATE_GOLDEN=1 python -m pytest tests/test_pack.py -q -k golden "$@"
