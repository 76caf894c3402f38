"""Profiles and repositories: profiles/*.ini and repos.d/*.ini into frozen `Profile` records.

A profile section (`[debian-bookworm]`, `[centos4.3]`) names a release of a vendor; the vendor's
repos.d file says where its repositories live. Every key of the profile section (defaults
included) is a `$variable` in repos.d templates, with `$release`, `$releasever`, `$basearch`,
`$arch`, `$major`, `$minor`, `$vendor_name` (repos.d's `name`) and `$mirror` always defined.
Each Repository's options are its repos.d keys plus `mirror_via` and `mirror_layout`, what an
error about its mirror suggests (_mirror_help).

Keys: each repository trusts the vendor's keys (repos.d `keys`, or its `gpgkey`) and every
--keyring (only those with --keyring-only); a directory stands for the key files in it that
match the family's FamilyFacts.key_files patterns, sorted by name.

No mirror host of Debian is written here or in the data files: the Debian mirror comes from
`--mirror`, the vendor's environment variable, or the host's own apt sources (read at run time).
"""
from __future__ import annotations

import configparser
import difflib
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from bootstrap import adapters
from bootstrap.adapters import FamilyFacts
from bootstrap.errors import ConfigError, ProfileNotFound
from bootstrap.types import Profile, Repository

DATA_ROOT = Path(os.environ.get("ROOTFS_BOOTSTRAP_DATA") or Path(__file__).resolve().parent.parent)

@dataclass(frozen=True)
class ProfileInfo:
    """One line of `rootfs-bootstrap list`."""

    name: str
    family: str
    vendor: str
    release: str
    aliases: tuple[str, ...]
    description: str
    variants: tuple[str, ...] = ()
    default_variant: str = ""


@dataclass(frozen=True)
class Overrides:
    """What the command line changes in a profile."""

    arch: str | None = None
    mirror: str | None = None
    # Further mirrors of the same distribution (--mirror given again), each laid out as
    # `mirror`: a repository whose URL uses $mirror gets its URL on each as an alternate.
    alternate_mirrors: tuple[str, ...] = ()
    # Key files or directories of keys (--keyring), added to the vendor's shipped keys of
    # every repository; with `keyring_only` they replace them (the key of a private mirror
    # that must be the only one trusted).
    keyrings: tuple[str, ...] = ()
    keyring_only: bool = False
    verify: bool = True
    components: tuple[str, ...] = ()  # --components: the archive areas, replacing the profile's


class _CaseKeeping(configparser.ConfigParser):
    """Keys are case-sensitive variables ($basearch, packages.minbase): keep them as written."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = _CaseKeeping(interpolation=None, default_section="DEFAULT")
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path}: {exc.message.splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parser


def _profile_sections(data_root: Path) -> dict[str, tuple[Path, str]]:
    """Every profile name and alias → (file, section)."""
    names: dict[str, tuple[Path, str]] = {}
    for path in sorted((data_root / "profiles").glob("*.ini")):
        parser = _read_ini(path)
        for section in parser.sections():
            names[section] = (path, section)
            for alias in parser[section].get("aliases", "").split():
                names.setdefault(alias, (path, section))
    return names


def list_profiles(data_root: Path = DATA_ROOT) -> list[ProfileInfo]:
    """Every profile the data files define, sorted by file then order of appearance."""
    infos = []
    for path in sorted((data_root / "profiles").glob("*.ini")):
        parser = _read_ini(path)
        for section in parser.sections():
            sec = parser[section]
            vendor = sec.get("vendor", path.stem)
            infos.append(ProfileInfo(section, _vendor_family(data_root, vendor), vendor,
                                     sec.get("release", ""), tuple(sec.get("aliases", "").split()),
                                     sec.get("description", ""), tuple(sec.get("variants", "").split()),
                                     sec.get("variant", "default")))
    return infos


def profile_names(data_root: Path = DATA_ROOT) -> list[str]:
    """Every profile name and alias, as `build` takes them."""
    return list(_profile_sections(data_root))


def _vendor_file(data_root: Path, vendor: str) -> Path:
    """repos.d/VENDOR.ini; ConfigError when `vendor` (a profile's word) is no plain file name
    there (empty, a `/`, a leading `.`, NUL or another control character)."""
    if not vendor or vendor.startswith(".") or any(c == "/" or ord(c) < 32 or ord(c) == 127 for c in vendor):
        raise ConfigError(f"a profile names the vendor {vendor[:80]!r}, which is no file name in repos.d",
                          hint="a vendor is the stem of a repos.d/*.ini file")
    return data_root / "repos.d" / f"{vendor}.ini"


def _vendor_family(data_root: Path, vendor: str) -> str:
    parser = _read_ini(_vendor_file(data_root, vendor))
    return parser.get("vendor", "family", fallback="?")


def load_profile(name: str, overrides: Overrides = Overrides(), *, data_root: Path = DATA_ROOT,
                 environ: Mapping[str, str] | None = None) -> Profile:
    """The profile `name` (or alias) with repositories resolved for `overrides`.

    Raises ProfileNotFound with close matches, ConfigError when a mirror or key is missing.
    """
    environ = os.environ if environ is None else environ
    sections = _profile_sections(data_root)
    if name not in sections:
        close = difflib.get_close_matches(name, sections, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ProfileNotFound(f"unknown profile {name!r}", hint=hint + "`rootfs-bootstrap list` shows them all")
    path, section = sections[name]
    sec = dict(_read_ini(path)[section])
    vendor = sec.get("vendor", path.stem)
    vparser = _read_ini(_vendor_file(data_root, vendor))
    if not vparser.has_section("vendor"):
        raise ConfigError(f"repos.d/{vendor}.ini has no [vendor] section")
    vsec = dict(vparser["vendor"])
    family = vsec.get("family", "")
    variables = _variables(section, sec, vsec, family, overrides, environ)
    repos = _repositories(vparser, sec, variables, family, overrides, data_root)
    variants = {key.split(".", 1)[1]: tuple(_subst(value, variables).split())
                for key, value in sec.items() if key.startswith("packages.")}
    for variant in sec.get("variants", "").split():
        variants.setdefault(variant, ())
    return Profile(name=section, family=family, vendor=vendor, release=variables["release"],
                   arch=variables["arch"], repositories=tuple(repos), variants=variants,
                   default_variant=sec.get("variant", "default"),
                   command=tuple(sec.get("command", "/bin/sh").split()),
                   options={k: _subst(v, variables) for k, v in sec.items()} | {
                       k: v for k, v in variables.items() if k not in sec})


def _variables(section: str, sec: Mapping[str, str], vsec: Mapping[str, str], family: str,
               overrides: Overrides, environ: Mapping[str, str]) -> dict[str, str]:
    """Template variables of a profile: its keys plus the always-defined ones."""
    facts = adapters.facts(family)
    arch = overrides.arch or sec.get("arch", "host")
    if arch == "host":
        machine = platform.machine()
        arch = facts.host_arch.get(machine, machine)
    release = sec.get("release", section)
    variables = {k: v for k, v in sec.items()}
    variables.update(profile=section, arch=arch, release=release,
                     releasever=sec.get("releasever", release),
                     basearch=sec.get("basearch") or facts.basearch.get(arch, arch),
                     major=release.split(".")[0], minor=(release.split(".") + [""])[1])
    variables.setdefault("vendor_name", vsec.get("name", ""))  # for messages: "Alpine Linux v3.16 has no ..."
    if overrides.components:
        if "components" not in variables:
            raise ConfigError(f"--components: {section} has no archive components",
                             hint="--components goes with profiles whose repositories have areas (Debian, Ubuntu)")
        variables["components"] = " ".join(overrides.components)
    mirror, security = _mirrors(vsec, overrides, environ, facts)
    if mirror:
        variables["mirror"] = mirror.rstrip("/")
    if security:
        variables["security_mirror"] = security.rstrip("/")
    return variables


def _mirrors(vsec: Mapping[str, str], overrides: Overrides, environ: Mapping[str, str],
             facts: FamilyFacts) -> tuple[str | None, str | None]:
    """The mirror root, in order: --mirror, the vendor's environment variable, the vendor's
    default, the host's own apt sources (for vendors that say `mirror_from_host`)."""
    env_name = vsec.get("mirror_env", "")
    sec_env = vsec.get("security_mirror_env", "")
    security = check_mirror(environ[sec_env], sec_env) if sec_env and environ.get(sec_env) else None
    if overrides.mirror:
        return check_mirror(overrides.mirror, "--mirror"), security
    if vsec.get("mirror") and not (env_name and environ.get(env_name)):
        return vsec["mirror"], security or vsec.get("security_mirror")
    host_main, host_security = _host_mirrors(vsec.get("mirror_from_host", ""), facts)
    if env_name and environ.get(env_name):
        return check_mirror(environ[env_name], env_name), security or host_security
    return host_main, security or host_security


MIRROR_HINT = ("a mirror is an http:// or https:// URL with a host (http://mirror.example.org/debian), "
               "a file:// URL or an absolute path")


def check_mirror(url: str, where: str) -> str:
    """`url` if it is a usable mirror (MIRROR_HINT), else ConfigError naming `where` (the
    option or variable that gave it): no whitespace or control characters (repos.d splits
    URL lists on whitespace, so `not a url` would become `not`), a scheme of http, https or
    file, a host and a valid port for http(s)."""
    shown = repr(url) if len(url) <= 80 else repr(url[:80]) + "…"

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"{where}: {shown} is not a mirror URL: {why}", hint=MIRROR_HINT)

    if not url.strip():
        raise refuse("it is empty")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise refuse("it contains whitespace or control characters")
    if url.startswith("/"):
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks a port only when asked for it
    except ValueError as exc:
        raise refuse(str(exc) or "malformed") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise refuse(f"an {scheme} URL needs a host")
    elif scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise refuse("a file URL is file:///absolute/path")
    elif not scheme:
        raise refuse("no scheme (http://, https:// or file://)")
    else:
        raise refuse(f"unsupported scheme {scheme!r} (http, https or file)")
    return url


def _host_mirrors(kind: str, facts: FamilyFacts) -> tuple[str | None, str | None]:
    """The mirrors the host's own configuration names (Debian's apt sources), read only when
    a vendor needs them: reading them costs start-up time other builds would pay for nothing."""
    if not kind or facts.host_mirrors is None:
        return None, None
    return facts.host_mirrors(kind)


def _subst(text: str, variables: Mapping[str, str]) -> str:
    return Template(text).safe_substitute(variables)


def _repositories(vparser: configparser.ConfigParser, sec: Mapping[str, str],
                  variables: Mapping[str, str], family: str, overrides: Overrides,
                  data_root: Path) -> list[Repository]:
    repo_ids = sec.get("repos", "").split()
    default_keys = vparser.get("vendor", "keys", fallback="")
    repos = []
    for repo_id in repo_ids:
        if not vparser.has_section(repo_id):
            raise ConfigError(f"profile enables repository {repo_id!r}, which repos.d/{sec.get('vendor')}.ini lacks")
        rsec = {k: _subst(v, variables) for k, v in vparser[repo_id].items()}
        if rsec.get("enabled", "1") == "0":
            continue
        urls = (rsec.get("baseurl") or rsec.get("url") or "").split()
        optional = rsec.get("optional", "0") == "1"
        if not urls or any("$" in u for u in urls):
            if optional:
                continue  # e.g. a security archive when only --mirror was given: skipped, not guessed
            raise _no_mirror(vparser, repo_id)
        named = rsec.get("gpgkey") or _subst(default_keys, variables)
        shipped = tuple(_key_path(k, data_root) for k in named.split())
        keys = _trusted_keys(shipped, overrides, adapters.facts(family))
        urls += _on_other_mirrors(vparser[repo_id], variables, overrides.alternate_mirrors)
        urls = list(dict.fromkeys(urls))
        rsec.update(_mirror_help(vparser[repo_id], variables, vparser["vendor"]))
        repos.append(Repository(
            id=repo_id, family=family, url=urls[0], alternates=tuple(urls[1:]),
            suite=rsec.get("suite", ""), components=tuple(rsec.get("components", "").split()),
            keyrings=keys, verify=overrides.verify, priority=_priority(rsec.get("priority", "0"), repo_id),
            mirrorlist=rsec.get("mirrorlist", ""), optional=optional,
            options=tuple(sorted(rsec.items()))))
    return repos


def _mirror_help(rsec: Mapping[str, str], variables: Mapping[str, str],
                 vendor: Mapping[str, str]) -> dict[str, str]:
    """What an error about this repository's mirror tells the user to do (the adapters'
    `adapters.mirrors.mirror_hint`), as two repository options: `mirror_via`, how to name
    another mirror for it (`--mirror URL or $ROOTFS_BOOTSTRAP_CENTOS_MIRROR`), and
    `mirror_layout`, its first URL with that mirror written URL (`URL/7.9.2009/os/x86_64/`).
    Both "" for a repository whose URL names no mirror variable (a fixed host)."""
    words = (rsec.get("baseurl") or rsec.get("url") or "").split()
    template = words[0] if words else ""
    for var, env_key, flag in (("mirror", "mirror_env", "--mirror URL"),
                               ("security_mirror", "security_mirror_env", "")):
        layout = _subst(template, {**variables, var: "URL"})
        if layout.startswith("URL") and not template.startswith("URL"):
            env = vendor.get(env_key, "")
            via = " or ".join(w for w in (flag, f"${env}" if env else "") if w)
            return {"mirror_via": via, "mirror_layout": layout}
    return {"mirror_via": "", "mirror_layout": ""}


def _priority(text: str, repo_id: str) -> int:
    """A repository's `priority =`: an integer of at most 9 digits, else ConfigError."""
    value = text.strip()
    digits = value[1:] if value[:1] in ("+", "-") else value
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 9):
        raise ConfigError(f"repository {repo_id!r}: priority {text[:40]!r} is not a number",
                          hint="priority = an integer, such as 10")
    return int(value)


def _on_other_mirrors(rsec: Mapping[str, str], variables: Mapping[str, str],
                      mirrors: tuple[str, ...]) -> list[str]:
    """A repository's URLs on each further --mirror, in order: its baseurl (or url) template
    with $mirror set to that mirror. A repository that does not use $mirror (a security
    archive of its own) gets the same URLs again, which the caller drops."""
    template = rsec.get("baseurl") or rsec.get("url") or ""
    urls: list[str] = []
    for mirror in mirrors:
        urls += _subst(template, {**variables, "mirror": check_mirror(mirror, "--mirror").rstrip("/")}).split()
    return urls


def _trusted_keys(shipped: tuple[str, ...], overrides: Overrides, facts: FamilyFacts) -> tuple[str, ...]:
    """A repository's keys: the vendor's `shipped` ones, then each --keyring (only the
    --keyring ones with `keyring_only`), each directory among them replaced by the key
    files in it (FamilyFacts.key_files), once each in that order. ConfigError for --keyring-only
    without --keyring, and for a directory that holds no key file of the family's."""
    if overrides.keyring_only and not overrides.keyrings:
        raise ConfigError("--keyring-only needs at least one --keyring FILE",
                          hint="give the keys to trust with --keyring, or drop --keyring-only")
    given = overrides.keyrings if overrides.keyring_only else shipped + overrides.keyrings
    return tuple(dict.fromkeys(key for entry in given for key in _key_files(entry, facts)))


def _key_files(entry: str, facts: FamilyFacts) -> tuple[str, ...]:
    """The key files `entry` stands for: a URL or a file as it is (a missing one too: the
    signature check names it), a directory the files in it that match the family's
    `key_files` patterns, sorted by name (ConfigError when none does)."""
    path = Path(entry)
    if "://" in entry or not path.is_dir():
        return (entry,)
    found = sorted({f for pattern in facts.key_files for f in path.glob(pattern)
                    if f.is_file() and not f.name.startswith(".")})
    if not found:
        wanted = ", ".join(facts.key_files) or "none"
        raise ConfigError(f"keyring directory {entry} holds no key file",
                          hint=f"a directory of {facts.family} keys holds files named {wanted}")
    return tuple(str(f) for f in found)


def _key_path(key: str, data_root: Path) -> str:
    """A key named in repos.d: a URL stays a URL; anything else is a file under keys/."""
    if "://" in key:
        return key.removeprefix("file://") if key.startswith("file://") else key
    path = Path(key) if key.startswith("/") else data_root / "keys" / key
    return str(path)


def _no_mirror(vparser: configparser.ConfigParser, repo_id: str) -> ConfigError:
    name = vparser.get("vendor", "name", fallback="the distribution")
    env_name = vparser.get("vendor", "mirror_env", fallback="")
    hint = "pass --mirror URL"
    if env_name:
        hint += f" or set {env_name}"
    if vparser.get("vendor", "mirror_from_host", fallback=""):
        hint += f", or configure a {name} mirror in the host's apt sources"
    return ConfigError(f"no {name} mirror is configured for repository {repo_id!r}", hint=hint)

