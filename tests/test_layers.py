"""The tree's shape: imports go downwards (config <- crawler <- scheduler), no module-level
import cycle, and an import inside a function says why it is there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"config": "presswatch.config", "crawler": "presswatch.crawler", "scheduler": "presswatch.scheduler"}
LAYER = {"presswatch.config": 0, "presswatch.crawler": 1, "presswatch.scheduler": 2}


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.module is None:
        return []
    return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]


def _top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(name for name in _imported(node) if name in MODULES)
    return found


def _layer(module: str) -> int:
    return next(rank for prefix, rank in LAYER.items() if module == prefix or module.startswith(prefix + "."))


def test_the_tree_holds_modules_of_all_three_layers():
    assert {_layer(name) for name in MODULES} == {0, 1, 2}
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_downwards(module):
    upwards = [name for name in _top_level_imports(MODULES[module]) if _layer(name) > _layer(module)]
    assert upwards == [], f"{module} imports from a layer above it: {upwards}"


def test_no_import_cycle_between_modules():
    graph = {name: _top_level_imports(path) - {name} for name, path in MODULES.items()}
    cycles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(trail[trail.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def _local_imports_without_reason(path: Path) -> list[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    missing = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                # The reason is a comment on the import's line or one of the three
                # lines above it (or above the first of a group of imports).
                above = lines[max(0, node.lineno - 4):node.lineno - 1]
                if "#" not in lines[node.lineno - 1] and not any(line.strip().startswith("#") for line in above):
                    missing.append(node.lineno)
    return missing


def test_an_import_inside_a_function_says_why():
    missing = {str(path.relative_to(ROOT)): lines for path in MODULES.values()
               if (lines := _local_imports_without_reason(path))}
    assert missing == {}
