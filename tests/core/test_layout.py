"""The shape of the code, checked from its source (docs/ARCHITECTURE.md says why each rule exists).

- Adapters touch the target tree only through the root handle (`Root`): no os/shutil file
  calls, no pathlib writes, no reaching for the handle's host path.
- The pipeline probes no adapter hook with getattr: every hook is declared on `Adapter`.
- Shared code names no family in its imports.
- No import cycle between modules.
Each checker is also run on a small bad sample, so that a rule that stopped seeing anything
would fail here rather than pass silently.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bootstrap"

# os functions that read or change the file system (string helpers such as os.path.join stay).
OS_FILE_OPS = {
    "open", "mkdir", "makedirs", "unlink", "remove", "rename", "renames", "replace", "chmod", "lchmod",
    "chown", "lchown", "fchown", "symlink", "link", "rmdir", "removedirs", "utime", "setxattr",
    "removexattr", "listdir", "scandir", "walk", "lstat", "stat", "readlink", "mknod", "mkfifo",
    "truncate", "access", "chdir", "chroot",
}
OS_PATH_FILE_OPS = {"exists", "lexists", "isdir", "isfile", "islink", "getsize", "getmtime", "realpath",
                    "samefile", "ismount"}
# pathlib methods that write, list or delete (reading a host file, a download, stays allowed).
PATH_WRITES = {"write_text", "write_bytes", "mkdir", "unlink", "symlink_to", "hardlink_to", "chmod",
               "lchmod", "touch", "rename", "rmdir", "iterdir", "glob", "rglob", "lchown"}
# What only the handle itself may use.
HANDLE_INSIDES = {"path", "locate", "_root"}
FAMILY_WORDS = {"apt", "yum", "apk", "rpm", "dpkg", "deb"}
SHARED = ["pipeline.py", "config.py", "machine.py", "report.py", "progress.py", "buildroot.py", "hooks.py",
          "resolve", "unpack", "pack", "root", "fetch", "sandbox", "trust", "types.py", "errors.py",
          "compression.py", "freshness.py", "output.py", "signals.py", "indexcache", "memory.py", "collector.py",
          "lock", "locked.py", "refresh.py", "buildplan.py", "payloads.py", "buildsbom.py", "sbom",
          "epoch.py", "scrub.py", "imagebuild.py", "publish.py", "registry", "image", "rootless.py", "summary.py",
          "space.py"]


def _root_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Arguments annotated as the root handle (`root: Root`)."""
    args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
    return {a.arg for a in args if a.annotation is not None and "Root" in ast.unparse(a.annotation)}


def _calls(tree: ast.AST) -> Iterator[tuple[ast.Call, set[str]]]:
    """Every call, with the names that hold a Root where it stands."""
    def walk(node: ast.AST, roots: set[str]) -> Iterator[tuple[ast.Call, set[str]]]:
        for child in ast.iter_child_nodes(node):
            inner = roots | _root_names(child) if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) \
                else roots
            if isinstance(child, ast.Call):
                yield child, inner
            yield from walk(child, inner)
    yield from walk(tree, set())


def root_handle_findings(source: str, name: str) -> list[str]:
    """Where `source` touches the file system other than through the root handle."""
    tree = ast.parse(source, name)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "shutil":
            found.append(f"{name}:{node.lineno}: shutil.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in HANDLE_INSIDES and \
                isinstance(node.value, ast.Name) and node.value.id in ("root", "tree"):
            found.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr} (the handle's host path)")
    for call, roots in _calls(tree):
        func = call.func
        text = ast.unparse(func)
        if isinstance(func, ast.Attribute):
            base = ast.unparse(func.value)
            on_handle = isinstance(func.value, ast.Name) and func.value.id in roots
            os_call = (base == "os" and func.attr in OS_FILE_OPS) or \
                (base == "os.path" and func.attr in OS_PATH_FILE_OPS)
            if os_call or (func.attr in PATH_WRITES and not on_handle):
                found.append(f"{name}:{call.lineno}: {text}()")
            elif text == "tarfile.open" and not any(k.arg == "fileobj" for k in call.keywords):
                found.append(f"{name}:{call.lineno}: tarfile.open() of a path")
        elif text == "open" and _writes(call):
            found.append(f"{name}:{call.lineno}: open() for writing")
    return found


def _writes(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) <= set("rbt"))


def _sources(*parts: str) -> Iterator[Path]:
    for part in parts:
        path = PACKAGE / part
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def test_adapters_touch_the_root_only_through_the_handle() -> None:
    findings = [f for path in _sources("adapters")
                for f in root_handle_findings(path.read_text(), str(path.relative_to(PACKAGE)))]
    assert findings == []


BAD_ADAPTER = '''
import os, shutil, tarfile
from pathlib import Path
def register(root: Root, other: Path) -> None:
    root.write_text("etc/x", "ok")          # the handle: fine
    (root.path / "etc").mkdir()             # reaching past it
    os.unlink(other)
    shutil.rmtree(other)
    other.write_text("x")
    open(other, "w")
    tarfile.open(other)
    os.path.exists(other)
    with open(other, "rb") as fh:           # reading a host file: fine
        fh.read()
'''


def test_the_root_handle_check_sees_what_it_forbids() -> None:
    found = root_handle_findings(BAD_ADAPTER, "bad.py")
    assert [f.split(": ", 1)[1] for f in found] == [
        "shutil.rmtree", "root.path (the handle's host path)", "(root.path / 'etc').mkdir()",
        "os.unlink()", "other.write_text()", "open() for writing", "tarfile.open() of a path",
        "os.path.exists()"]


def test_pipeline_probes_no_adapter_hook() -> None:
    assert "getattr" not in (PACKAGE / "pipeline.py").read_text()


def _imports(path: Path, module: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in `path` (the module named `module`, by default its
    place in the package), lazy ones inside functions included; `from a import b` counts as
    a.b where that is a module of the package (and then not as an import of a's __init__)."""
    package = module or ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + "." + "__init__"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:-node.level] + ([base] if base else []))
            submodules = [f"{base}.{a.name}" for a in node.names if _module_path(f"{base}.{a.name}")]
            if len(submodules) < len(node.names):  # a name of the package itself: its __init__
                yield node.lineno, base
            for module in submodules:
                yield node.lineno, module


def _module_path(module: str) -> Path | None:
    if not module.startswith("bootstrap"):
        return None
    rel = Path(*module.split("."))
    for candidate in (PACKAGE.parent / rel.with_suffix(".py"), PACKAGE.parent / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def family_findings(paths: list[Path], module: str | None = None) -> list[str]:
    """Imports of a family's module in `paths` (one file may be given its module name)."""
    found = []
    for path in paths:
        name = str(path.relative_to(PACKAGE)) if module is None else path.name
        for line, imported in _imports(path, module):
            words = set(re.split(r"[._]", imported))
            if imported.startswith("bootstrap") and words & FAMILY_WORDS:
                found.append(f"{name}:{line}: imports {imported}")
    return found


def test_shared_code_names_no_family() -> None:
    assert family_findings(list(_sources(*SHARED))) == []


def test_the_family_check_sees_a_family_import(tmp_path: Path) -> None:
    # A probe beside the test, taken as a module of pack/: the source tree is never written.
    bad = tmp_path / "probe.py"
    bad.write_text("from bootstrap.adapters.apt.payload import load_deb\n")
    assert family_findings([bad], "bootstrap.pack.probe") == [
        "probe.py:1: imports bootstrap.adapters.apt.payload"]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _sources("."):
        name = str(path.relative_to(PACKAGE))
        targets = {_module_path(m) for _, m in _imports(path)}
        graph[name] = {str(t.relative_to(PACKAGE)) for t in targets if t is not None and t != path}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles(_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("part", ["adapters/apt", "adapters/yum", "adapters/apk"])
def test_each_family_is_one_package_registered_once(part: str) -> None:
    from bootstrap.adapters import REGISTRY

    family = part.rsplit("/", 1)[1]
    assert (PACKAGE / part / "__init__.py").is_file()
    assert REGISTRY[family].startswith(f"bootstrap.adapters.{family}:")
