"""kiroproto is sans-IO: no I/O, async, web-framework or logging imports, and no print().

Every module under libs/kiroproto/src/kiroproto is parsed with `ast` (never imported), so
a module being written right now is checked as soon as it exists. One test per module, so a
failure names the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "kiroproto"

BANNED_MODULES = frozenset(
    {
        "asyncio",
        "httpx",
        "httpcore",
        "anyio",
        "nats",
        "redis",
        "fastapi",
        "starlette",
        "uvicorn",
        "logging",
        "socket",
    }
)
_IMPORT_FUNCTIONS = {"__import__", "import_module"}


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every banned import and print call in `source`, as 'line N: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        line = getattr(node, "lineno", 0)
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            name = ""
            if isinstance(func, ast.Name):
                name = func.id
            elif isinstance(func, ast.Attribute):
                name = func.attr
            if name == "print":
                found.append(f"line {line}: print()")
            elif (
                name in _IMPORT_FUNCTIONS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                modules = [node.args[0].value]
        for module in modules:
            if module.split(".")[0] in BANNED_MODULES:
                found.append(f"line {line}: imports {module}")
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def test_package_root_exists_and_has_modules() -> None:
    assert (PACKAGE_ROOT / "__init__.py").is_file()
    assert (PACKAGE_ROOT / "eventstream" / "decoder.py") in _modules()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE_ROOT).as_posix())
def test_module_is_sans_io(path: Path) -> None:
    problems = violations(path.read_text(encoding="utf-8"), str(path))
    assert not problems, f"{path.relative_to(PACKAGE_ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import os, socket",
        "import httpx as h",
        "from httpcore import Connection",
        "from nats.aio.client import Client",
        "import redis.asyncio",
        "from fastapi import FastAPI",
        "from starlette.requests import Request",
        "import uvicorn",
        "import anyio",
        "def f():\n    import logging\n",
        "from logging import getLogger",
        "print('x')",
        "def f():\n    print()\n",
        "import builtins\nbuiltins.print(1)",
        "__import__('asyncio')",
        "import importlib\nimportlib.import_module('redis')",
    ],
)
def test_checker_flags_banned_code(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "import json, struct, zlib",
        "from kiroproto.errors import DecodeError",
        "from . import errors",
        "from .logging_free import x",
        "import asynciox",
        "x = 'import asyncio'",
        "def show(printer):\n    printer.show()\n",
        "import typing\nlogger = None",
    ],
)
def test_checker_allows_pure_code(source: str) -> None:
    assert violations(source) == []
