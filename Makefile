# rootfs-bootstrap: the two-command quick start is `make demo` and `make test` (as root, fresh machine).
#
# Everything Python runs from the project's own virtual environment (.venv/, made with the
# host's `python3 -m venv`): on a fresh Debian 12 the system Python refuses `pip install`
# outside one (PEP 668), and a venv keeps the host's packages out of the tests.
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
PROFILE ?= debian-bookworm
OUT ?= out
# System tools the tool and its tests use (Debian package names).
SYSTEM_PACKAGES = gpg gpgv dpkg-dev apt-utils debootstrap mmdebstrap rpm createrepo-c \
	podman skopeo umoci zstd xz-utils bzip2 pigz cpio gcc gcc-multilib libarchive13 \
	libcap2-bin uidmap fakeroot file busybox-static python3-venv util-linux \
	mount e2fsprogs libsolv-tools docker-registry apache2-utils python3-rpm

.PHONY: install install-system install-python demo test lint bench man clean

install: install-system install-python

# apt-get only when something is missing, so a second `make` costs nothing.
install-system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

install-python: $(VENV)/.installed

# Remade when the package's metadata changes (new dependencies); the install is editable.
$(VENV)/.installed: setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# Build the default profile (minbase, from the host's Debian mirror) and run a command inside it.
demo: install
	rm -rf $(OUT)/demo-root && mkdir -p $(OUT)
	$(VENV)/bin/rootfs-bootstrap $(PROFILE) --variant minbase -o $(OUT)/demo.tar.gz --dockerfile
	mkdir -p $(OUT)/demo-root && tar -xzf $(OUT)/demo.tar.gz -C $(OUT)/demo-root --numeric-owner
	chroot $(OUT)/demo-root /bin/sh -c '. /etc/os-release; echo "inside: $$PRETTY_NAME"; dpkg-query -W | wc -l | sed "s/$$/ packages installed/"'

# One test process per core (pytest-xdist): the suite is mostly CPU-bound Python.
test: install lint
	$(PY) -m pytest -q -ra -n auto

# The man pages, one per command, from the click help (committed; installed with the package).
man: install-python
	$(PY) tools/man.py --target man

# Fails on any finding: ruff (style, imports, bugs) and mypy (types), both configured in setup.cfg
# and pyproject.toml.
lint: install-python
	$(PY) -m ruff check bootstrap tests benchmarks tools
	$(PY) -m mypy

# The whole build against mmdebstrap/debootstrap on the 88-package subset index, the same build
# and `resolve` per family on real-size indexes (full bookworm main, 60,000-package yum, Alpine's
# APKINDEX) with peak RSS, then the resolver alone (run.py rewrites RESULTS.md; realsize.py and
# resolver.py then add or replace their own sections). Each script takes --rounds N (--quick: 1).
bench: install
	$(PY) benchmarks/run.py --fs ext4 --fs ext4-nojournal --fs tmpdir --results benchmarks/RESULTS.md
	$(PY) benchmarks/realsize.py --results benchmarks/RESULTS.md
	$(PY) benchmarks/refresh.py --results benchmarks/RESULTS.md
	$(PY) benchmarks/resolver.py --results benchmarks/RESULTS.md

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache $(VENV)
