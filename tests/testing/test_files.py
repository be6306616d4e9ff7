"""Temporary directories and test files."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from awaitflow.testing._files import create_test_files, temp_directory


def _tree(root: str | Path) -> dict[str, bytes] | None:
    """Every file under ``root`` as ``{relative_posix_path: bytes}``; None if root is gone."""
    base = Path(root)
    if not base.exists():
        return None
    return {
        path.relative_to(base).as_posix(): path.read_bytes()
        for path in sorted(base.rglob("*"))
        if path.is_file()
    }


def _is_empty_dir(path: str) -> bool:
    return os.path.isabs(path) and os.path.isdir(path) and os.listdir(path) == []


def _real(root: Path, *parts: str) -> str:
    return os.path.join(os.path.realpath(root), *parts)


def _make_link(link: Path, *, to: Path) -> None:
    to.mkdir(parents=True)
    link.parent.mkdir(parents=True)
    link.symlink_to(to)


def _write(root: str, relative: str, text: str) -> None:
    target = Path(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


class TestTempDirectory:
    @pytest.mark.asyncio
    async def test_yields_a_fresh_absolute_directory(self) -> None:
        """The path is an existing, empty, absolute directory given as a str."""
        async with temp_directory() as path:
            assert isinstance(path, str)
            assert _is_empty_dir(path)

    @pytest.mark.asyncio
    async def test_each_directory_is_distinct(self) -> None:
        """Two temporary directories open at once are different."""
        async with temp_directory() as first, temp_directory() as second:
            assert first != second

    @pytest.mark.asyncio
    async def test_removed_with_its_contents(self) -> None:
        """On exit the directory and everything in it is gone."""
        async with temp_directory() as path:
            _write(path, "sub/f.txt", "x")
            assert _tree(path) == {"sub/f.txt": b"x"}
        assert _tree(path) is None

    @pytest.mark.asyncio
    async def test_removed_on_error(self) -> None:
        """The directory is removed when the block raises, and the error propagates."""
        with pytest.raises(ValueError, match="inside"):
            async with temp_directory() as path:
                _write(path, "f.txt", "x")
                raise ValueError("inside")
        assert _tree(path) is None

    @pytest.mark.asyncio
    async def test_removed_on_cancellation(self) -> None:
        """A task cancelled inside the block still removes the directory."""
        entered = asyncio.Event()
        seen: list[str] = []

        async def user() -> None:
            async with temp_directory() as path:
                seen.append(path)
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(user())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _tree(seen[0]) is None

    @pytest.mark.asyncio
    async def test_already_removed_is_fine(self) -> None:
        """Removing the directory inside the block is not an error at exit."""
        async with temp_directory() as path:
            os.rmdir(path)
        assert _tree(path) is None


class TestCreateTestFiles:
    @pytest.mark.asyncio
    async def test_writes_each_kind(self, tmp_path: Path) -> None:
        """str as UTF-8 text, dict and list as JSON indented by 2, bytes as they are."""
        written = await create_test_files(
            tmp_path,
            {
                "input.csv": "name,city\nJosé,Zürich",
                "config.json": {"format": "csv", "delimiter": ","},
                "ids.json": [1, 2, 3],
                "blob.bin": b"\x00\xff",
                "more.bin": bytearray(b"ab"),
            },
        )
        assert _tree(tmp_path) == {
            "input.csv": "name,city\nJosé,Zürich".encode(),
            "config.json": json.dumps({"format": "csv", "delimiter": ","}, indent=2).encode(),
            "ids.json": b"[\n  1,\n  2,\n  3\n]",
            "blob.bin": b"\x00\xff",
            "more.bin": b"ab",
        }
        assert sorted(written) == ["blob.bin", "config.json", "ids.json", "input.csv", "more.bin"]

    @pytest.mark.asyncio
    async def test_returns_absolute_paths(self, tmp_path: Path) -> None:
        """The result maps each relative path to the absolute path written."""
        written = await create_test_files(str(tmp_path), {"a/b.txt": "x", "c.txt": "y"})
        assert written == {
            "a/b.txt": _real(tmp_path, "a", "b.txt"),
            "c.txt": _real(tmp_path, "c.txt"),
        }

    @pytest.mark.asyncio
    async def test_creates_folders(self, tmp_path: Path) -> None:
        """Missing parent folders, the directory itself included, are created."""
        target = tmp_path / "not-yet"
        await create_test_files(target, {"deep/er/file.txt": "x"})
        assert _tree(target) == {"deep/er/file.txt": b"x"}

    @pytest.mark.asyncio
    async def test_overwrites(self, tmp_path: Path) -> None:
        """Writing a file again replaces its content."""
        await create_test_files(tmp_path, {"f.txt": "long content"})
        await create_test_files(tmp_path, {"f.txt": "short"})
        assert _tree(tmp_path) == {"f.txt": b"short"}

    @pytest.mark.asyncio
    async def test_in_a_temp_directory(self) -> None:
        """The two helpers together: the seed's file-processing pattern."""
        async with temp_directory() as temp_dir:
            written = await create_test_files(temp_dir, {"config.json": {"format": "csv"}})
            assert written == {"config.json": os.path.join(temp_dir, "config.json")}
            assert _tree(temp_dir) == {"config.json": b'{\n  "format": "csv"\n}'}

    @pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.txt", "a/../../outside.txt"])
    @pytest.mark.asyncio
    async def test_path_escaping_refused(self, tmp_path: Path, bad: str) -> None:
        """A path that is absolute or leaves the directory is refused, naming it."""
        with pytest.raises(ValueError, match=rf"create_test_files: '{bad}' is"):
            await create_test_files(tmp_path / "d", {bad: "x"})
        assert _tree(tmp_path) == {}

    @pytest.mark.asyncio
    async def test_directory_itself_refused(self, tmp_path: Path) -> None:
        """A path naming the directory itself is not a file inside it."""
        with pytest.raises(ValueError, match=r"'\.' is not a file inside"):
            await create_test_files(tmp_path, {".": "x"})

    @pytest.mark.asyncio
    async def test_symlink_escape_refused(self, tmp_path: Path) -> None:
        """A path through a symlink pointing outside the directory is refused."""
        _make_link(tmp_path / "d" / "link", to=tmp_path / "elsewhere")
        with pytest.raises(ValueError, match=r"'link/f.txt' is not a file inside"):
            await create_test_files(tmp_path / "d", {"link/f.txt": "x"})
        assert _tree(tmp_path / "elsewhere") == {}

    @pytest.mark.parametrize(
        ("content", "type_name"), [(42, "int"), (None, "NoneType"), ((1, 2), "tuple")]
    )
    @pytest.mark.asyncio
    async def test_bad_content_type(self, tmp_path: Path, content: Any, type_name: str) -> None:
        """Content of another type is refused, naming the path and the type."""
        with pytest.raises(
            TypeError,
            match=rf"the content of 'n.txt' must be str, bytes, dict or list, not {type_name}",
        ):
            await create_test_files(tmp_path, {"n.txt": content})

    @pytest.mark.asyncio
    async def test_not_json_serialisable(self, tmp_path: Path) -> None:
        """A dict that cannot be JSON is refused, naming the path."""
        with pytest.raises(TypeError, match=r"the content of 'c.json' cannot be written as JSON"):
            await create_test_files(tmp_path, {"c.json": {"when": object()}})

    @pytest.mark.asyncio
    async def test_nothing_written_when_one_entry_is_bad(self, tmp_path: Path) -> None:
        """Every entry is checked before any file is written."""
        with pytest.raises(TypeError):
            await create_test_files(tmp_path, {"good.txt": "x", "bad.txt": 1.5, "c.json": {}})  # type: ignore[dict-item]
        assert _tree(tmp_path) == {}

    @pytest.mark.asyncio
    async def test_files_must_be_a_mapping(self, tmp_path: Path) -> None:
        """Passing something other than a mapping is refused."""
        with pytest.raises(TypeError, match=r"files must be a mapping .* got list"):
            await create_test_files(tmp_path, ["a.txt"])  # type: ignore[arg-type]

    @pytest.mark.asyncio
    async def test_writes_off_the_event_loop_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The disk writes happen in a worker thread, not on the event loop's."""
        threads: list[threading.Thread] = []
        original = Path.write_bytes

        def spy(self: Path, data: Any) -> int:
            threads.append(threading.current_thread())
            return original(self, data)

        monkeypatch.setattr(Path, "write_bytes", spy)
        await create_test_files(tmp_path, {"big.bin": b"x" * 1_000_000})
        assert threads
        assert threading.current_thread() not in threads

    @pytest.mark.asyncio
    async def test_cancellation_waits_for_the_write(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A cancelled call returns only once its disk work is over, then raises CancelledError."""
        writing = threading.Event()
        release = threading.Event()
        original = Path.write_bytes

        def slow_write(self: Path, data: Any) -> int:
            writing.set()
            release.wait(5)
            return original(self, data)

        monkeypatch.setattr(Path, "write_bytes", slow_write)
        task = asyncio.create_task(create_test_files(tmp_path, {"f.txt": "done"}))
        await asyncio.to_thread(writing.wait, 5)
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _tree(tmp_path) == {"f.txt": b"done"}
