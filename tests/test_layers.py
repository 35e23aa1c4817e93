"""Layers point down: the library never imports SB3 or `agents`, and no module imports in a circle.

The import graph is read from the source (every `import`, also inside functions and under
TYPE_CHECKING), so a lazy import cannot hide a cycle or a layer breach.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("musicgym", "agents")
COMMAND_LAYER = ("musicgym.cli", "musicgym.commands")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules (ours and third-party roots) it imports anywhere in its source."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else base)
        graph[name] = {t for t in targets if t in files} | {
            t.split(".")[0] for t in targets if t.split(".")[0] not in PACKAGES}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among our modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "musicgym.envs.bundle" in graph["musicgym.envs.music_rec"]
    assert "agents.training" in graph["musicgym.commands.train"]  # imported inside functions
    assert "stable_baselines3" in graph["agents.vec_env"]


def test_no_module_imports_in_a_circle() -> None:
    graph = import_graph()
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle(graph) is None


def test_the_library_never_imports_sb3_or_agents() -> None:
    graph = import_graph()
    breaches = {name: sorted(graph[name] & {"stable_baselines3"} | {
        t for t in graph[name] if t.split(".")[0] == "agents"})
        for name in graph
        if name.split(".")[0] == "musicgym" and not name.startswith(COMMAND_LAYER)}
    assert {k: v for k, v in breaches.items() if v} == {}


def test_importing_musicgym_loads_neither_sb3_nor_agents() -> None:
    code = ("import sys, musicgym, musicgym.envs, musicgym.envs.vector; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('stable_baselines3', 'agents')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_synthetic_code_lives_in_its_package() -> None:
    data = {name for name in import_graph() if name.split(".")[:2] == ["musicgym", "data"]}
    assert "musicgym.data.prepare" in data and "musicgym.datasets" not in data
    assert not {name for name in data if "synthetic" in name or "marginals" in name}
    graph = import_graph()
    assert not {t for name in data for t in graph[name] if t.startswith("musicgym.synthetic")}

