"""Atomic file and folder writes: a reader sees the old content or the new, never half of either.

Files that later steps read (`results.json`, `stage.json`, checkpoint records, evaluation files, the parquet files and
card of a dataset tree) are written to a temporary sibling and renamed into place (`os.replace`, atomic on POSIX and Windows within one file
system), so a crash or a `SIGKILL` mid-write leaves no truncated JSON for a resumed run to choke on.

A torch-free leaf: it imports nothing of the library.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["replace_with", "write_json", "write_text"]


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically: a temporary file in the same folder, flushed, then renamed.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text(folder / "a.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def replace_with(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Have `write(tmp)` write a file (e.g. `dataset.to_parquet`) to a temporary sibling, then rename it to `path`.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> replace_with(folder / "b.txt", lambda tmp: tmp.write_text("x")).read_text()
    'x'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write `obj` as JSON (strict: no NaN) with a trailing newline, atomically (see [`write_text`])."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")
