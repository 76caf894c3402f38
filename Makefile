# rootfs-bootstrap: the two-command quick start is `make demo` and `make test` (as root, fresh machine).
PYTHON ?= python3
PROFILE ?= debian-bookworm
OUT ?= out
# System tools the tool and its tests use (Debian package names).
SYSTEM_PACKAGES = gpg gpgv dpkg-dev apt-utils debootstrap mmdebstrap rpm createrepo-c \
	podman skopeo umoci zstd xz-utils bzip2 pigz cpio gcc gcc-multilib libarchive13 \
	libcap2-bin uidmap fakeroot file busybox-static python3-venv util-linux \
	mount e2fsprogs

.PHONY: install install-system install-python demo test lint bench clean

install: install-system install-python

# apt-get only when something is missing, so a second `make` costs nothing.
install-system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

install-python:
	$(PYTHON) -m pip install -q -e '.[test]'

# Build the default profile (minbase, from the host's Debian mirror) into a directory and run a command inside it.
demo: install
	rm -rf $(OUT)/demo-root && mkdir -p $(OUT)
	rootfs-bootstrap $(PROFILE) --variant minbase -o $(OUT)/demo.tar.gz --dockerfile
	mkdir -p $(OUT)/demo-root && tar -xzf $(OUT)/demo.tar.gz -C $(OUT)/demo-root --numeric-owner
	chroot $(OUT)/demo-root /bin/sh -c '. /etc/os-release; echo "inside: $$PRETTY_NAME"; dpkg-query -W | wc -l | sed "s/$$/ packages installed/"'

test: install
	$(PYTHON) -m pytest -q -ra

lint:
	$(PYTHON) -m compileall -q bootstrap
	$(PYTHON) -m pyflakes bootstrap tests 2>/dev/null || true

bench: install
	$(PYTHON) benchmarks/run.py --fs ext4 --fs ext4-nojournal --fs tmpdir --results benchmarks/RESULTS.md

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
