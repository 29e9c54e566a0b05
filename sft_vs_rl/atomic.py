"""Atomic file and folder writes: a reader sees the old content or the new, never half of either.

Files that later steps read (`results.json`, `stage.json`, checkpoint records, evaluation files, dataset trees) are
written to a temporary sibling and renamed into place (`os.replace`, atomic on POSIX and Windows within one file
system), so a crash or a `SIGKILL` mid-write leaves no truncated JSON for a resumed run to choke on.

A torch-free leaf: it imports nothing of the library.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_folder", "write_json", "write_text"]


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


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write `obj` as JSON (strict: no NaN) with a trailing newline, atomically (see [`write_text`])."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it to `path` only when the block finishes without error.

    An existing `path` is replaced; on an error (or a kill) `path` keeps what it held before and the temporary
    sibling is removed (after a kill it stays behind as `.<name>.*.tmp`, never under `path`'s own name).

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_folder(root / "tree") as tmp:
    ...     _ = (tmp / "x.txt").write_text("1")
    >>> sorted(p.name for p in (root / "tree").iterdir())
    ['x.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
