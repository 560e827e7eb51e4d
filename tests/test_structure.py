"""The shape of the code: imports flow one way between rulesd's packages and modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "rulesd"


def unit_graph() -> dict[str, set[str]]:
    """Top-level unit (a package or module of rulesd) → the units it imports."""
    graph: dict[str, set[str]] = {}
    for file in PACKAGE.rglob("*.py"):
        unit = file.relative_to(PACKAGE).parts[0].removesuffix(".py")
        deps = graph.setdefault(unit, set())
        for node in ast.walk(ast.parse(file.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "rulesd" else [
                    f"rulesd.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "rulesd" and len(parts) > 1 and parts[1] != unit:
                    deps.add(parts[1])
    return graph


def module_graph() -> dict[str, set[str]]:
    """Every module of rulesd (`rules.conditions`; a package is its `__init__`) → the
    modules of rulesd it imports, at any level of the file (a function's import too)."""
    modules = {".".join(f.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
               for f in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for file in PACKAGE.rglob("*.py"):
        name = ".".join(file.relative_to(PACKAGE).with_suffix("").parts).removesuffix(
            ".__init__")
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(file.read_text())):
            found: set[str] = set()
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.split(".")[0] == "rulesd":
                base = node.module.removeprefix("rulesd").lstrip(".")
                # `from rulesd.x import y`: the module x.y where y is one, else x.
                found = {f"{base}.{a.name}".lstrip(".") for a in node.names} & modules \
                    or {base}
            elif isinstance(node, ast.Import):
                found = {a.name.removeprefix("rulesd.") for a in node.names
                         if a.name.startswith("rulesd.")}
            deps |= (found & modules) - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between units, if there is any."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = 1
        stack.append(unit)
        for dep in sorted(graph.get(unit, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[unit] = 2
        return None

    for unit in sorted(graph):
        if unit not in state and (found := visit(unit)):
            return found
    return None


def test_no_two_packages_import_each_other() -> None:
    graph = unit_graph()
    assert {"config", "sources", "rules", "delivery", "state"} <= set(graph)
    assert cycle(graph) is None, " → ".join(cycle(graph) or [])


def test_no_two_modules_import_each_other() -> None:
    graph = module_graph()
    assert {"rules.conditions", "rules.stateful", "rules.predicates", "daemon"} <= set(graph)
    assert "rules.predicates" in graph["rules.stateful"]
    assert cycle(graph) is None, " → ".join(cycle(graph) or [])


def test_only_the_commands_that_run_it_import_the_daemon() -> None:
    importers = {unit for unit, deps in module_graph().items() if "daemon" in deps}
    assert importers == {"commands.run", "commands.dry_run"}, importers


def test_config_sits_at_the_bottom_and_the_engine_does_no_io() -> None:
    graph = unit_graph()
    assert graph["config"] <= {"durations", "suggest", "yaml_loader"}
    assert not graph["rules"] & {"delivery", "sources", "daemon", "loader"}
    assert not graph["sources"] & {"rules", "delivery", "state", "daemon", "loader", "config"}


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_loading_a_rules_file_patches_nothing_in_the_process() -> None:
    """`requests` is hooked (to read the platforms' answers) when the first Apprise
    notifier is built, not by importing rulesd: `check` and embedders keep theirs."""
    import subprocess
    import sys

    code = ("import requests; from rulesd import loader, cli; from rulesd.commands import check;"
            "loader.load('rules.example.yaml');"
            "assert requests.Session.send.__module__ == 'requests.sessions', 'patched'")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
