"""Temporary directories and test files, with the disk work kept off the event loop."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path, PurePath
from typing import Any, TypeVar

__all__ = ["create_test_files", "temp_directory"]

T = TypeVar("T")

FileContent = str | bytes | bytearray | dict[str, Any] | list[Any]


async def _in_thread(func: Callable[[], T]) -> T:
    """Run ``func`` in a worker thread and wait for it to finish, even if cancelled meanwhile.

    A thread cannot be stopped, so a cancellation is held back until the thread is
    done, then re-raised: when this returns, no disk work is still going on.
    """
    future = asyncio.ensure_future(asyncio.to_thread(func))
    cancelled = False
    while True:
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            cancelled = True
            if not future.done():
                continue
        except BaseException:
            if not cancelled:
                raise
        break
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def _remove_tree(path: str) -> None:
    with suppress(FileNotFoundError):
        shutil.rmtree(path)


@asynccontextmanager
async def temp_directory(prefix: str = "awaitflow-") -> AsyncIterator[str]:
    """A fresh temporary directory, as an absolute ``str`` path.

    The directory and everything in it are removed when the block exits, whether
    it succeeded, failed or was cancelled.
    """
    path = await _in_thread(lambda: os.path.realpath(tempfile.mkdtemp(prefix=prefix)))
    try:
        yield path
    finally:
        await _in_thread(lambda: _remove_tree(path))


def _target(base: Path, relative: str | os.PathLike[str]) -> Path:
    if not isinstance(relative, str | os.PathLike):
        raise TypeError(
            f"create_test_files: file names must be str or path-like, got {relative!r} "
            f"({type(relative).__name__})"
        )
    if PurePath(relative).is_absolute():
        raise ValueError(
            f"create_test_files: {os.fspath(relative)!r} is absolute; "
            f"give a path relative to {str(base)!r}"
        )
    target = (base / relative).resolve()
    if target == base or not target.is_relative_to(base):
        raise ValueError(
            f"create_test_files: {os.fspath(relative)!r} is not a file inside {str(base)!r}"
        )
    return target


def _check_content(relative: str, content: object) -> None:
    if not isinstance(content, str | bytes | bytearray | dict | list):
        raise TypeError(
            f"create_test_files: the content of {relative!r} must be str, bytes, dict or list, "
            f"not {type(content).__name__}"
        )


def _encode(relative: str, content: object) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    try:
        return json.dumps(content, indent=2, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"create_test_files: the content of {relative!r} cannot be written as JSON: {error}"
        ) from error


async def create_test_files(
    directory: str | os.PathLike[str], files: Mapping[str, FileContent]
) -> dict[str, str]:
    """Write ``files`` (``{relative_path: content}``) under ``directory``.

    A ``str`` is written as UTF-8 text, a ``dict`` or ``list`` as JSON (indented
    by 2), ``bytes`` as they are. Missing folders, ``directory`` included, are
    created. Every path is checked before anything is written: one that is
    absolute or leaves the directory (``..``, a symlink) raises ``ValueError``,
    content of another type raises ``TypeError``. Returns ``{relative_path:
    absolute_path}``.
    """
    if not isinstance(files, Mapping):
        raise TypeError(
            "create_test_files: files must be a mapping {relative_path: content}, "
            f"got {type(files).__name__}"
        )
    entries = list(files.items())

    def check_and_write() -> dict[str, str]:
        base = Path(directory).resolve()
        planned: list[tuple[str, Path, object]] = []
        for relative, content in entries:
            target = _target(base, relative)
            name = os.fspath(relative)
            _check_content(name, content)
            planned.append((name, target, content))
        encoded = [(name, target, _encode(name, content)) for name, target, content in planned]
        written: dict[str, str] = {}
        for name, target, data in encoded:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written[name] = str(target)
        return written

    return await _in_thread(check_and_write)
