"""Which module may import which: the layers of ARCHITECTURE.md, checked on the source with ast.

Every import counts, at module level or inside a function (and importlib.import_module with a
literal name): a lazy import that closes a loop is still a loop, one that only hides until a call.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "matching")

# Modules that hold the domain's rules: they are used by the pages, the API and the CLI alike, so
# they reach neither Flask nor the web layer, not even through another module.
DOMAIN = ("service.workflow", "service.sessions", "service.reports", "service.engine", "service.store",
          "service.records", "service.importers", "service.permissions", "service.settings",
          "service.errors", "service.report_schema")
WEB = ("flask", "service.web", "service.api")

# What each group must never reach, directly or through other modules (a name covers its submodules).
FORBIDDEN = {
    **{module: WEB for module in DOMAIN},
    "matching": ("flask", "service"),  # the engine is a library: service → matching, never back
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                # `from . import store` imports the module service.store; `from .auth import owns` service.auth.
                submodule = f"{base}.{alias.name}"
                found.append((submodule if submodule in known else base, node.lineno))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and ast.unparse(node.func).endswith("import_module")):
            found.append((node.args[0].value, node.lineno))
    return found


def import_graph() -> dict[str, list[tuple[str, int]]]:
    modules = source_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def within(module: str, names) -> str | None:
    """The name in `names` that is `module` or one of its parent packages, if any."""
    return next((name for name in names if module == name or module.startswith(name + ".")), None)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that can each reach all the others."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[str]:
    """One message per import loop: the modules in it and the imports inside it, file and line."""
    graph = {name: {target for target, _ in targets if target in edges} for name, targets in edges.items()}
    messages = []
    for group in strongly_connected(graph):
        if len(group) == 1 and group[0] not in graph[group[0]]:
            continue
        inside = sorted({f"  {name} → {target} (line {line})" for name in group
                         for target, line in edges[name] if target in group})
        messages.append(f"import loop of {len(group)} modules: {', '.join(group)}\n" + "\n".join(inside))
    return messages


def forbidden_paths(edges: dict[str, list[tuple[str, int]]]) -> list[str]:
    """One message per rule broken, with the chain of imports that breaks it."""
    messages = []
    for start in sorted(edges):
        group = within(start, FORBIDDEN)
        if group is None:
            continue
        reported = set()
        came_from = {start: None}
        queue = [start]
        while queue:  # breadth first: the shortest chain to each module reached
            module = queue.pop(0)
            for target, line in edges.get(module, ()):
                if target in came_from:
                    continue
                came_from[target] = (module, line)
                banned = within(target, FORBIDDEN[group])
                if banned in reported:
                    continue
                if banned:
                    reported.add(banned)
                    chain, step = [], target
                    while came_from[step]:
                        source, at = came_from[step]
                        chain.append(f"{source}:{at} → {step}")
                        step = source
                    messages.append(f"{start} reaches {banned}: " + ", ".join(reversed(chain)))
                elif target in edges:
                    queue.append(target)
    return messages


def test_the_import_graph_sees_relative_and_lazy_imports():
    edges = {name: {target for target, _ in targets} for name, targets in import_graph().items()}
    assert "service.store" in edges["service.workflow"]  # from . import store
    assert "service.records" in edges["service.workflow"]  # from .records import ...
    assert "service.records" in edges["service.store.records"]  # from ..records import ..., in a subpackage
    assert "service.store.base" in edges["service.store.records"]  # from .base import ...
    assert "service.engine" in edges["service.cli"]  # from .engine import Engine, inside a command
    assert "matching.ranker" in edges["service.engine"]  # from matching.ranker import ...
    assert "service.web.blueprint" in edges["service.web.lists"]  # from .blueprint import bp
    assert "flask" in edges["service.app"]


def test_a_loop_closed_by_a_lazy_import_and_a_path_to_flask_are_both_reported(tmp_path):
    (tmp_path / "workflow.py").write_text("from . import helpers\n", encoding="utf-8")
    (tmp_path / "helpers.py").write_text(
        "import importlib\n\ndef later():\n    from .workflow import rule\n    importlib.import_module('flask')\n",
        encoding="utf-8")
    known = {"service.workflow", "service.helpers"}
    edges = {name: imports_of(name, tmp_path / f"{name.split('.')[-1]}.py", known) for name in known}
    assert cycles(edges) == ["import loop of 2 modules: service.helpers, service.workflow\n"
                             "  service.helpers → service.workflow (line 4)\n"
                             "  service.workflow → service.helpers (line 1)"]
    assert forbidden_paths(edges) == ["service.workflow reaches flask: "
                                      "service.workflow:1 → service.helpers, service.helpers:5 → flask"]


def test_no_module_in_service_or_matching_imports_itself_through_a_loop():
    loops = cycles(import_graph())
    assert not loops, "\n\n".join(loops)


def test_domain_modules_and_the_engine_library_never_reach_flask_or_the_web_layer():
    broken = forbidden_paths(import_graph())
    assert not broken, "\n".join(broken)


def test_every_file_docs_architecture_names_exists():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = [name for name in re.findall(r"`([a-z_/]+(?:\.py|/))`", page)] + ["store"]
    missing = [name for name in named
               if not any(path.exists() for path in (ROOT / name, ROOT / "service" / name, ROOT / "service" / f"{name}.py"))]
    assert len(named) > 20 and missing == []
