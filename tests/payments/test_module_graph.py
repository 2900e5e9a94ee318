"""The payments modules import one way: no module reaches, directly or through others, a module
that imports it, and none imports another's private (underscore) names. Read from the source
(every import, function-level ones too), so a cycle shows here before it shows at run time."""

from __future__ import annotations

import ast
from pathlib import Path

PAYMENTS = Path(__file__).resolve().parents[2] / "payments"


def _module(path: Path) -> str:
    parts = path.relative_to(PAYMENTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, dict[str, set[str]]]:
    """{module: {payments module it imports: the names it takes from it}}, migrations left out."""
    modules = {_module(p): p for p in PAYMENTS.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, dict[str, set[str]]] = {name: {} for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    whole = f"{node.module}.{alias.name}"
                    if whole in modules:  # from payments import daraja
                        graph[name].setdefault(whole, set())
                    elif node.module in modules:
                        graph[name].setdefault(node.module, set()).add(alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        graph[name].setdefault(alias.name, set())
        graph[name].pop(name, None)
    return graph


def test_the_payments_modules_import_one_way() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        for imported in graph.get(module, {}):
            visit(imported, [*path, module])
        done.add(module)

    assert "payments.services" in graph and "payments.views.pay" in graph  # the tree was read
    for module in sorted(graph):
        visit(module, [])


def test_no_payments_module_imports_anothers_private_names() -> None:
    private = sorted(f"{importer} takes {name} from {module}" for importer, imports in _imports().items()
                     for module, names in imports.items() for name in names if name.startswith("_"))
    assert private == []
