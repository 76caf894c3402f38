"""--buildrequires FILE.spec: the parser on CentOS-4-era specs (tests/data/rpm-spec: %define
switches, one-line conditional definitions, %if / %ifarch, BuildPreReq, versioned and file
requirements), cross-checked with the host's own `rpmspec -q --buildrequires`; the errors a user
can cause; and the command line against the vault-shaped signed mirror of tests/yumrepo.py
(resolve, build, a missing package)."""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bootstrap import config
from bootstrap.adapters.yum import YumAdapter
from bootstrap.adapters.yum.spec import buildrequires, parse_defines, read_spec, spec_requests, target_macros
from bootstrap.errors import ConfigError, UsageError
from bootstrap.fetch import Fetcher
from bootstrap.pipeline import BuildOptions, _split_request, extra_requests, requested
from bootstrap.types import Relation
from tests.yum.yumrepo import Vault, _cli

SPECS = Path(__file__).resolve().parent.parent / "data" / "rpm-spec"
EL4 = {"_target_cpu": "i386", "rhel": "4", "dist": ".el4"}
OPENSSH_EL4 = ["perl", "openssl-devel", "tcp_wrappers", "/bin/login", "gtk2-devel", "xauth", "krb5-devel",
               "pam-devel", "audit-libs-devel >= 1.0.8", "libselinux-devel >= 1.17.9", "util-linux", "groff", "man"]
GCC_EL4 = ["binutils >= 2.15.91.0.2-4", "zlib-devel", "gettext", "dejagnu", "bison", "flex", "texinfo",
           "glibc-devel >= 2.2.90-12", "gcc-gnat >= 3.1", "libgnat >= 3.1", "/usr/bin/fastjar",
           "gcc-bootstrap-java = 3.4.6-3.el4"]


def _spec(name: str) -> str:
    return read_spec(SPECS / f"{name}.spec")


# -- the parser ------------------------------------------------------------------------------

def test_centos4_specs_in_order() -> None:
    assert buildrequires(_spec("openssh"), EL4, source="openssh.spec") == OPENSSH_EL4
    assert buildrequires(_spec("gcc"), EL4) == GCC_EL4


def test_conditionals_follow_the_defines_and_the_target() -> None:
    rescue = buildrequires(_spec("openssh"), {**EL4, "build_rescue": "1"})  # %{?build_rescue:%define rescue 1}
    assert "krb5-devel" not in rescue and "pam-devel" not in rescue and "perl" in rescue
    assert "gtk2-devel" not in buildrequires(_spec("openssh"), {**EL4, "skip_gnome_askpass": "1"})
    el5 = buildrequires(_spec("gcc"), {"_target_cpu": "x86_64", "rhel": "5", "dist": ".el5"})
    assert el5[8:12] == ["/lib/libc.so.6", "/usr/lib/libc.so", "/lib64/libc.so.6", "/usr/lib64/libc.so"]
    assert "elfutils-devel >= 0.72" in el5 and el5[-1] == "gcc-bootstrap-java = 3.4.6-3.el5"
    s390 = buildrequires(_spec("gcc"), {"_target_cpu": "s390x"})  # %else branch: build_ada 0
    assert "gcc-gnat >= 3.1" not in s390 and s390[-1] == "gcc-bootstrap-java = 3.4.6-3"


def test_newer_rpm_forms() -> None:
    text = _spec("modern")
    assert buildrequires(text, {"_target_cpu": "i386", "rhel": "4"}) == [
        "python-devel >= 2.3", "python-Frob-data = 1.0-2", "no-docs-tool", "python-nose", "no-docs-marker",
        "el-before-5", "a", "b >= 1", "c >= 2", "d = 3"]
    other = buildrequires(text, {"_target_cpu": "x86_64", "fedora": "3", "dist": ".fc3", "epoch": "7",
                                 "_with_docs": "1", "_without_tests": "1"})
    assert other[:4] == ["python-devel >= 2.3", "python-Frob-data = 7:1.0-2.fc3", "docs-tool", "python-sphinx"]
    assert "fedora-only" in other and "/usr/lib64/libz.so" in other and "python-nose" not in other


RPMSPEC_CASES = [("openssh", "i386", {"rhel": "4", "dist": ".el4"}), ("openssh", "i386", {"build_rescue": "1"}),
                 ("openssh", "x86_64", {"skip_gnome_askpass": "1"}), ("gcc", "i386", {"rhel": "4", "dist": ".el4"}),
                 ("gcc", "x86_64", {"rhel": "5"}), ("gcc", "s390x", {}), ("modern", "i386", {"rhel": "4"}),
                 ("modern", "x86_64", {"rhel": "5", "_with_docs": "1", "_without_tests": "1"}),
                 ("modern", "x86_64", {"fedora": "3", "dist": ".fc3", "epoch": "7"})]


@pytest.mark.parametrize("name,arch,defines", RPMSPEC_CASES)
def test_same_set_as_rpmspec(name: str, arch: str, defines: dict[str, str]) -> None:
    """What rpm itself (the host's rpm 4.x) says the BuildRequires are, for the same target."""
    if shutil.which("rpmspec") is None:
        pytest.skip("needs rpmspec (apt-get install rpm)")
    argv = ["rpmspec", "-q", "--buildrequires", "--target", arch]
    for key, value in defines.items():
        argv += ["--define", f"{key} {value}"]
    done = subprocess.run(argv + [str(SPECS / f"{name}.spec")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = buildrequires(_spec(name), {"_target_cpu": arch, **defines})
    assert sorted(ours) == sorted(done.stdout.splitlines())


def test_target_macros_of_profiles() -> None:
    el4 = target_macros(config.load_profile("centos4.3"))
    assert {k: el4[k] for k in ("_target_cpu", "rhel", "dist", "el4", "centos", "releasever")} == {
        "_target_cpu": "i386", "rhel": "4", "dist": ".el4", "el4": "1", "centos": "4", "releasever": "4.3"}
    alma = target_macros(config.load_profile("alma8"))
    assert (alma["rhel"], alma["almalinux"], alma["_target_cpu"]) == ("8", "8", "x86_64")
    fc3 = target_macros(config.load_profile("fedora-core3"))
    assert (fc3["fedora"], fc3["dist"], fc3["fc3"]) == ("3", ".fc3", "1") and "rhel" not in fc3
    text = "Name: x\nBuildRequires: %{_libdir}/libz.so %{_bindir}/perl foo%{?dist}\n"
    assert buildrequires(text, target_macros(config.load_profile("rocky9"))) == [
        "/usr/lib64/libz.so", "/usr/bin/perl", "foo.el9"]


def test_latin1_spec_and_defines() -> None:
    assert buildrequires(read_spec(SPECS / "latin1.spec")) == ["make"]
    assert parse_defines(["rhel 4", "%dist .el4", "_with_foo --with-foo"]) == {
        "rhel": "4", "dist": ".el4", "_with_foo": "--with-foo"}
    with pytest.raises(UsageError, match="expected 'NAME VALUE'"):
        parse_defines(["rhel"])


ERRORS = [
    ("Name: x\nVersion: 1\n", "has no BuildRequires or BuildPrereq line", "--include"),
    ("Name: x\n%if 0\nBuildRequires: a\n%endif\n", "(1 are in %if branches false for this target)", "--include"),
    ("Summary: not a spec\nBuildRequires: a\n", "is not an rpm spec file: it has no Name: line", "rpm2cpio"),
    ("Name: x\n%if 1\nBuildRequires: a\n", "x.spec:2: %if without %endif", None),
    ("Name: x\n%endif\n", "x.spec:2: %endif without %if", None),
    ("Name: x\n%if 1\n%else\n%else\n%endif\n", "x.spec:4: %else after %else (the %if is on line 2)", None),
    ("Name: x\n%if %{with_ssl}\nBuildRequires: a\n%endif\n", "x.spec:2: cannot evaluate %if %{with_ssl}",
     "--define 'with_ssl VALUE'"),
    ("Name: x\nBuildRequires: perl >= %{perl_version}\n", "x.spec:2: BuildRequires: perl >= %{perl_version}: "
     "macro %{perl_version} is not defined", "--define 'perl_version VALUE'"),
    ("Name: x\nBuildRequires: (a or b)\n", "rich (boolean) dependencies are not supported", "--include"),
    ("Name: x\nBuildRequires: gcc >=\n", "gcc >= without a version", None),
    ("Name: x\nBuildRequires: >= 3\n", ">= without a package name before it", None),
    ("Name: x\n%define a %{a}%{a}\nBuildRequires: %{a}\n", "BuildRequires: %{a}:", None),
]


@pytest.mark.parametrize("text,message,hint", ERRORS)
def test_errors_a_user_can_cause(text: str, message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        buildrequires(text, source="x.spec")
    assert message in info.value.message and "\n" not in info.value.message
    assert (hint is None) or (hint in (info.value.hint or "")), info.value.hint


def test_unreadable_spec_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"spec file .*/nope\.spec does not exist") as info:
        read_spec(tmp_path / "nope.spec")
    assert "--buildrequires" in (info.value.hint or "")
    with pytest.raises(UsageError, match="is a directory"):
        read_spec(tmp_path)
    (tmp_path / "x.src.rpm").write_bytes(b"\xed\xab\xee\xdb\x03\x00\x00\x01\x00\x00gcc")
    with pytest.raises(ConfigError, match="binary data") as binary:
        read_spec(tmp_path / "x.src.rpm")
    assert "rpm2cpio" in (binary.value.hint or "")


def test_only_for_rpm_profiles() -> None:
    debian = config.load_profile("debian-bookworm", config.Overrides(mirror="http://127.0.0.1:9/debian"))
    with pytest.raises(UsageError, match="not an rpm distribution"):
        spec_requests([str(SPECS / "gcc.spec")], debian)


# -- into the pipeline's requests -----------------------------------------------------------

def test_requests_become_relations() -> None:
    assert _split_request("gcc >= 3.4") == Relation("gcc", ">=", "3.4")
    assert _split_request("foo = 1:1.0-2.el4") == Relation("foo", "=", "1:1.0-2.el4")
    assert _split_request("d==3") == Relation("d", "=", "3")
    assert _split_request("/usr/bin/fastjar") == Relation("/usr/bin/fastjar")
    with pytest.raises(UsageError, match="cannot read the package request"):
        _split_request("gcc >= 3.4 4.0")
    profile = config.load_profile("centos4.3", config.Overrides(mirror="http://127.0.0.1:9"))
    opts = BuildOptions("centos4.3", include=("bash",), exclude=("perl",),
                        buildrequires=(str(SPECS / "openssh.spec"),), defines=("build_rescue 1",))
    adapter = YumAdapter(profile)
    deps = requested(opts, profile, adapter, [], "custom", Fetcher(),
                     extra_requests(opts, adapter))
    relations = [d[0] for d in deps]
    assert relations[0] == Relation("bash") and Relation("/bin/login") in relations
    assert Relation("libselinux-devel", ">=", "1.17.9") in relations
    assert all(r.name not in ("perl", "krb5-devel") for r in relations)  # --exclude, --define


# -- the command line against a vault-shaped mirror -----------------------------------------

BR_SPEC = """# a package that builds against the vault's hello
%define hello_min 1.0
Name: hello-tools
Version: 2.0
Release: 1%{?dist}
Summary: x
License: MIT
BuildRequires: hello >= %{hello_min}, %{_datadir}/hello/README
%if 0%{?rhel} < 5
BuildPrereq: setup
%else
BuildRequires: only-on-el5-and-later
%endif
%description
x
"""


def _write(tmp_path: Path, text: str, name: str = "hello-tools.spec") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _args(vault: Vault, *more: str) -> list[str]:
    return ["centos4.3", "--mirror", vault.url, "--keyring", str(vault.key), "--variant", "custom", *more]


def test_cli_resolve_with_buildrequires(vault: Vault, tmp_path: Path) -> None:
    """Versioned, macro-expanded file (only in filelists) and %if-guarded BuildRequires resolve."""
    spec = _write(tmp_path, BR_SPEC)
    done = _cli("resolve", *_args(vault, "--buildrequires", str(spec)), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello 1.0-1 i686", "hello-data 1.0-1 noarch", "setup 2.5-1 noarch"]
    assert "I: buildrequires: hello>=1.0 /usr/share/hello/README setup" in done.stderr
    pinned = _write(tmp_path, "Name: p\nBuildRequires: hello = 0.9-1\n", "pinned.spec")
    done = _cli("resolve", *_args(vault, "--buildrequires", str(pinned)), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello 0.9-1 i686", "setup 2.5-1 noarch"]


def test_cli_build_with_buildrequires(vault: Vault, tmp_path: Path) -> None:
    import os

    mode = "root" if os.geteuid() == 0 else "extract"
    out = tmp_path / "root.tar"
    spec = _write(tmp_path, BR_SPEC)
    done = _cli(*_args(vault, "--buildrequires", str(spec), "--mode", mode, "-o", str(out)), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
    assert {"usr/bin/hello", "usr/share/hello/README", "etc/passwd"} <= names


def test_cli_missing_package_and_bad_spec(vault: Vault, tmp_path: Path) -> None:
    spec = _write(tmp_path, "Name: p\nBuildRequires: hello, nosuch-devel >= 2.0\n")
    done = _cli("resolve", *_args(vault, "--buildrequires", str(spec)), cache=tmp_path / "cache")
    assert done.returncode == 5, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nosuch-devel" in errors[0] and "Traceback" not in done.stderr
    needs = _write(tmp_path, "Name: p\n%if %{with_data}\nBuildRequires: hello-data\n%endif\n"
                             "BuildRequires: setup\n", "needs.spec")
    done = _cli("resolve", *_args(vault, "--buildrequires", str(needs)), cache=tmp_path / "cache")
    assert done.returncode == 2 and "error: needs.spec:2: cannot evaluate %if %{with_data}" in done.stderr
    assert "hint: define it: --define 'with_data VALUE'" in done.stderr
    done = _cli("resolve", *_args(vault, "--buildrequires", str(needs), "--define", "with_data 1"),
                cache=tmp_path / "cache")
    assert done.returncode == 0 and "hello-data 1.0-1 noarch" in done.stdout, done.stderr


def test_cli_spec_errors_come_before_any_download(tmp_path: Path) -> None:
    """Nothing listens on port 9: a spec error is reported in the profile phase, exit 2."""
    done = _cli("centos4.3", "--mirror", "http://127.0.0.1:9", "--buildrequires", str(tmp_path / "none.spec"),
                "-o", str(tmp_path / "out.tar"), cache=tmp_path / "cache")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-2:] == [f"error: spec file {tmp_path / 'none.spec'} does not exist",
                                             "hint: --buildrequires takes the path of a .spec file"]
    assert not (tmp_path / "out.tar").exists()
