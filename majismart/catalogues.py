"""The message catalogues (locale/<lang>/LC_MESSAGES/django.po, in the repository): compiled to
.mo with polib by the project's own setup (`manage.py compile_catalogues`, run by `make install`,
`make run`, the test session and the Docker build), so no GNU gettext is needed on any machine.

The strings marked for translation are found here too, without xgettext: templates through
Django's own `templatize` (what makemessages feeds xgettext), Python through its syntax tree.
`compile_catalogues --update` adds the new ones to every catalogue; the test suite fails while
any of them has no Kiswahili.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import polib  # type: ignore[import-untyped]  # ships no type information

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
# Where the product's strings live: the shared templates and every app's Python.
SOURCE_DIRS = ("templates", "majismart", "tenants", "accounts", "notifications", "clients", "meters",
               "billing", "payments", "fieldwork", "arrears", "privacy", "reports", "web")
# templates/admin: the platform admin's pages, in the words of Django admin's own catalogues.
SKIP_PARTS = {"migrations", "__pycache__", "management", "admin"}

GETTEXT_FUNCS = {"gettext": 0, "gettext_lazy": 0, "_": 0, "gettext_noop": 0, "ngettext": 0,
                 "ngettext_lazy": 0, "pgettext": 1, "pgettext_lazy": 1, "npgettext": 1, "npgettext_lazy": 1}
_CALL_RE = re.compile(r"\b(n?p?gettext(?:_lazy|_noop)?|_)\(")


def catalogue_paths() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_all() -> list[Path]:
    """Write each catalogue's .mo beside it when it is missing or older than the .po."""
    written = []
    for po_path in catalogue_paths():
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        written.append(mo_path)
    return written


def _msgid(call: ast.Call, func: str) -> tuple[str, str] | None:
    """(context, msgid) of a gettext-like call whose arguments are literal strings."""
    index = GETTEXT_FUNCS[func]
    args = call.args
    if len(args) <= index:
        return None
    msgid, ctx = args[index], args[0]
    if not isinstance(msgid, ast.Constant) or not isinstance(msgid.value, str):
        return None
    context = ctx.value if index == 1 and isinstance(ctx, ast.Constant) and isinstance(ctx.value, str) else ""
    return context, msgid.value


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def python_msgids(source: str) -> Iterator[tuple[str, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _call_name(node) in GETTEXT_FUNCS:
            found = _msgid(node, _call_name(node))
            if found:
                yield found


def _calls(code: str) -> Iterator[str]:
    """The gettext calls in templatize's output, each as a small Python expression."""
    for match in _CALL_RE.finditer(code):
        depth, i, quote = 0, match.end() - 1, ""
        while i < len(code):
            ch = code[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    yield code[match.start():i + 1]
                    break
            i += 1


def template_msgids(source: str) -> Iterator[tuple[str, str]]:
    from django.utils.translation.template import templatize

    for expr in _calls(templatize(source)):
        try:
            yield from python_msgids(expr)
        except SyntaxError:  # `_(` of a variable (a filter argument), not a literal
            continue


def source_files() -> Iterator[Path]:
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if SKIP_PARTS & set(path.relative_to(ROOT).parts) or not path.is_file():
                continue
            if path.suffix in (".html", ".txt") or path.suffix == ".py":
                yield path


def marked_strings(paths: Iterable[Path] | None = None) -> dict[tuple[str, str], list[str]]:
    """Every string marked for translation: (context, msgid) -> where (path:first)."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in paths if paths is not None else source_files():
        text = path.read_text(encoding="utf-8")
        ids = python_msgids(text) if path.suffix == ".py" else template_msgids(text)
        for key in ids:
            found.setdefault(key, []).append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    return found


def untranslated(language: str, found: dict[tuple[str, str], list[str]] | None = None) -> list[str]:
    """The marked strings with no translation in LANGUAGE's catalogue (each with where it is)."""
    po = polib.pofile(str(LOCALE_DIR / language / "LC_MESSAGES" / "django.po"))
    done = {(e.msgctxt or "", e.msgid) for e in po if (e.msgstr or e.msgstr_plural.get(0)) and not e.obsolete}
    return [f"{msgid!r} ({', '.join(sorted(set(where)))})"
            for (ctx, msgid), where in sorted((found if found is not None else marked_strings()).items())
            if (ctx, msgid) not in done]


def update(language: str) -> int:
    """Add every marked string missing from LANGUAGE's catalogue (untranslated); returns how many."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "django.po"
    po = polib.pofile(str(path))
    have = {(e.msgctxt or "", e.msgid) for e in po}
    added = 0
    for (ctx, msgid), where in sorted(marked_strings().items()):
        if (ctx, msgid) not in have:
            po.append(polib.POEntry(msgid=msgid, msgstr="", msgctxt=ctx or None,
                                    occurrences=[(w, "") for w in sorted(set(where))[:3]]))
            added += 1
    if added:
        po.save(str(path))
    return added


if __name__ == "__main__":  # `python -m majismart.catalogues`: compile, no settings needed (make install)
    compiled = compile_all()
    print(f"{len(compiled)} catalogue(s) compiled" if compiled else "catalogues up to date")  # noqa: T201
