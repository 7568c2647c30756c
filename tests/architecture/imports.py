"""The imports a Python file makes, read with `ast` (the file is never imported)."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_IMPORT_FUNCTIONS = frozenset({"__import__", "import_module"})


@dataclass(frozen=True)
class Import:
    """`module` as written (dotted, absolute) and where."""

    module: str
    path: Path
    line: int

    @property
    def top(self) -> str:
        return self.module.partition(".")[0]

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root).as_posix()}:{self.line}"


def _called_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


@cache
def imports_of(path: Path) -> tuple[Import, ...]:
    """Absolute imports (`import x`, `from x import y`, `import_module("x")`), also under
    TYPE_CHECKING; relative imports stay inside their package and are skipped. Parsed once
    per test session."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, path, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(node.module, path, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and _called_name(node) in _IMPORT_FUNCTIONS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(node.args[0].value, path, node.lineno))
    return tuple(found)


def imports_under(folder: Path) -> list[Import]:
    """Every import of every .py file under `folder`."""
    return [imp for file in sorted(folder.rglob("*.py")) for imp in imports_of(file)]


def is_stdlib(module: str) -> bool:
    return module.partition(".")[0] in sys.stdlib_module_names
