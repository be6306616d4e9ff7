"""Code nodes: dedent, compile once, run in a fresh namespace, collect the output."""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import opcode
import textwrap
import types
from typing import Any

from ._exceptions import WorkflowValidationError

__all__ = ["collect_output", "compile_node_code", "is_async_code", "stored_names"]

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_STORE_NAME, _STORE_GLOBAL = opcode.opmap["STORE_NAME"], opcode.opmap["STORE_GLOBAL"]
_EXTENDED_ARG = opcode.opmap["EXTENDED_ARG"]
_SKIPPED_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def _filename_for(node_id: str, source: str) -> str:
    """A file name naming the node, registered in linecache so tracebacks show its lines."""
    base = f"<node {node_id!r}>"
    filename, n = base, 1
    lines = source.splitlines(keepends=True)
    while True:
        entry = linecache.cache.get(filename)
        if entry is None or (len(entry) == 4 and entry[2] == lines):
            break
        n += 1
        filename = f"<node {node_id!r} #{n}>"
    linecache.cache[filename] = (len(source), None, lines, filename)
    return filename


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> types.CodeType:
    """Compile once per distinct source: workflows often repeat one code string."""
    compiled: types.CodeType = compile(source, "<node>", "exec", flags=_FLAGS, dont_inherit=True)
    return compiled


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """``code`` and the code objects nested in it, under ``filename`` (for tracebacks)."""
    if any(isinstance(const, types.CodeType) for const in code.co_consts):
        consts = tuple(
            _renamed(const, filename) if isinstance(const, types.CodeType) else const
            for const in code.co_consts
        )
        return code.replace(co_filename=filename, co_consts=consts)
    return code.replace(co_filename=filename)


def compile_node_code(node_id: str, code: str) -> tuple[types.CodeType, str]:
    """Dedent and compile a code string; a syntax error names the node, line and column."""
    if not isinstance(code, str):
        raise WorkflowValidationError(
            f"node {node_id!r}: code must be a str, got {type(code).__name__}", node_id=node_id
        )
    source = textwrap.dedent(code).strip("\n") + "\n"
    filename = _filename_for(node_id, source)
    try:
        compiled = _renamed(_compile(source), filename)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        pointer = " " * max((exc.offset or 1) - 1, 0) + "^"
        raise WorkflowValidationError(
            f"node {node_id!r}: syntax error at line {exc.lineno}, column {exc.offset}: "
            f"{exc.msg}\n    {line}\n    {pointer}",
            node_id=node_id,
        ) from exc
    return compiled, source


def is_async_code(code: types.CodeType) -> bool:
    """Whether evaluating ``code`` returns a coroutine (it awaits at top level)."""
    return bool(code.co_flags & inspect.CO_COROUTINE)


def stored_names(code: types.CodeType) -> frozenset[str]:
    """The names the code binds in its own namespace: top-level stores, and ``global``
    stores (and comprehension walruses) of the functions and comprehensions it holds."""
    found: set[str] = set()
    _scan_stores(code, found, top=True)
    return frozenset(found)


def _scan_stores(code: types.CodeType, found: set[str], *, top: bool) -> None:
    raw, names, extended = code.co_code, code.co_names, 0
    for i in range(0, len(raw), 2):
        op, arg = raw[i], raw[i + 1] | extended
        if op == _EXTENDED_ARG:
            extended = arg << 8
            continue
        extended = 0
        if op == _STORE_GLOBAL or (top and op == _STORE_NAME):
            found.add(names[arg])
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _scan_stores(const, found, top=False)


def collect_output(namespace: dict[str, Any], stored: frozenset[str]) -> dict[str, Any]:
    """A code node's output: its ``result``, else the variables it bound itself."""
    if "result" in stored and "result" in namespace:
        value = namespace["result"]
        return value if isinstance(value, dict) else {"result": value}
    output: dict[str, Any] = {}
    for name, value in namespace.items():
        if name in stored and not name.startswith("_") and not isinstance(value, _SKIPPED_TYPES):
            output[name] = value
    return output
