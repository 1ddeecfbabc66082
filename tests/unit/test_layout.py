"""The core's shape: no import cycle, no Prefect, layers that only import downwards, small modules.

Imports are read from the source (function-level imports count; only ``if TYPE_CHECKING:``
imports are exempt, since they never run), so a cycle dodged by a late import still fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "monitoring_lib"

LAYERS = {
    "monitoring_lib": 5,
    "monitoring_lib.records": 0,
    "monitoring_lib.errors": 0,
    "monitoring_lib.windows": 0,
    "monitoring_lib.durations": 0,
    "monitoring_lib.settings": 0,
    "monitoring_lib.observability": 0,
    "monitoring_lib.observability.redaction": 0,
    "monitoring_lib.observability.logs": 0,
    "monitoring_lib.spec": 1,
    "monitoring_lib.io": 2,
    "monitoring_lib.metrics": 2,
    "monitoring_lib.store": 2,
    "monitoring_lib.pages": 2,
    "monitoring_lib.observability.prometheus": 3,
    "monitoring_lib.policy": 3,
    "monitoring_lib.alerts": 3,
    "monitoring_lib.actions": 3,
    "monitoring_lib.example_trainer": 3,
    "monitoring_lib.pipeline": 4,
    "monitoring_lib.demo_data": 0,
    "monitoring_lib.demo": 5,
}
"""Layer of each module (the longest matching prefix wins): a module imports its own layer or
lower ones only. vocabulary -> spec -> io/metrics/store -> policy/alerts/actions -> pipeline."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (i for child in node.orelse for i in _runtime_imports_of(child))
            continue
        yield from _runtime_imports_of(node)


def _runtime_imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _runtime_imports(node)


def imported_modules(name: str) -> set[str]:
    """The modules ``name`` imports (a ``from pkg import sub`` counts as importing ``pkg.sub``)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif node.level == 0 and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        else:
            raise AssertionError(f"{name}: relative import; use absolute imports")
    return found


GRAPH = {name: {m for m in imported_modules(name) if m in MODULES} for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(GRAPH[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH[node]:
                found.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return found


def layer_of(name: str) -> int:
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{name} has no layer in LAYERS: add it where it belongs")
    return LAYERS[max(matches, key=len)]


def test_the_core_has_no_import_cycle() -> None:
    assert _cycles() == []


def test_the_cycle_finder_sees_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    records, base = "monitoring_lib.records", "monitoring_lib.spec.base"
    monkeypatch.setitem(GRAPH, records, {*GRAPH[records], base})
    monkeypatch.setitem(GRAPH, base, {*GRAPH[base], records})
    assert any({records, base} <= set(cycle) for cycle in _cycles())


def test_function_level_imports_count(tmp_path: Path) -> None:
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\ndef f():\n    import b\n"
    names = {alias.name for node in _runtime_imports(ast.parse(code)) for alias in node.names}
    assert names == {"TYPE_CHECKING", "b"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_prefect_in_the_core(name: str) -> None:
    prefect = sorted(m for m in imported_modules(name) if m.split(".")[0] == "prefect")
    assert prefect == [], f"{name} imports {prefect}: the core must not depend on the orchestrator"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name: str) -> None:
    upward = sorted(m for m in GRAPH[name] if layer_of(m) > layer_of(name))
    assert upward == [], f"{name} (layer {layer_of(name)}) imports higher layers: {upward}"


def test_few_modules_at_the_root_and_none_too_long() -> None:
    root = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= 10, root
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def test_the_architecture_map_names_every_folder_and_root_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = {p.parent.relative_to(ROOT).as_posix() + "/" for p in CORE.rglob("__init__.py")}
    roots = {p.name for p in CORE.glob("*.py") if p.name != "__init__.py"}
    assert sorted(name for name in folders | roots if name not in text) == []


@pytest.mark.parametrize(
    "package", sorted(n for n, p in MODULES.items() if p.name == "__init__.py")
)
def test_no_export_hides_a_submodule(package: str) -> None:
    """``from pkg.gate import gate`` in ``pkg/__init__`` would make ``import pkg.gate as m`` bind
    the function, not the module."""
    exported = {
        alias.asname or alias.name
        for node in ast.parse(MODULES[package].read_text(encoding="utf-8")).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    submodules = {name.rsplit(".", 1)[1] for name in MODULES if name.startswith(package + ".")}
    assert sorted(exported & submodules) == []
