"""Raw SQL names only its own app's tables: another app's tables are read and written through
SQL that app owns (its `sql` fragments, its `retention` steps), so each dependency shows in the
imports (issue 18)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.apps import apps
from django.db.models import Model

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "accounts", "notifications", "clients", "meters", "billing", "payments", "privacy", "reports", "web")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|LOCK TABLE)\b")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Each string in the module, an f-string with its `{Model._meta.db_table}` parts written
    as the table of the model the module imports under that name."""
    tables = {alias.asname or alias.name: model._meta.db_table
              for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
              for alias in node.names
              if node.module.endswith(".models") and (model := _model(node.module, alias.name)) is not None}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(_part(v, tables) for v in node.values)))
    return found


def _model(module: str, name: str) -> type[Model] | None:
    try:
        return apps.get_model(module.split(".")[0], name)
    except LookupError:
        return None


def _part(value: ast.expr, tables: dict[str, str]) -> str:
    if isinstance(value, ast.Constant):
        return str(value.value)
    meta = re.fullmatch(r"(\w+)\._meta\.db_table", ast.unparse(value.value)) if isinstance(value, ast.FormattedValue) else None
    return tables.get(meta.group(1), "") if meta else ""


def test_raw_sql_names_no_other_apps_table() -> None:
    owner = {m._meta.db_table: m._meta.app_label for m in apps.get_models() if m._meta.app_label in APPS}
    names = re.compile(r"\b(" + "|".join(sorted(owner, key=len, reverse=True)) + r")\b")
    foreign = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            for line, text in _strings(ast.parse(path.read_text())):
                if SQL.search(text):
                    foreign += [f"{rel}:{line} {t}" for t in set(names.findall(text))
                                if owner[t] != app]
    assert foreign == []
