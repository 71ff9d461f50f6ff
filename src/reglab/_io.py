"""Atomic file writes: every file reglab writes goes through here.

A write goes to a temporary file in the destination's folder (``.<name>.<random>.tmp``), is flushed
and ``fsync``-ed, then renamed over the destination with ``os.replace`` (atomic on POSIX and
Windows), and the folder is fsynced so the rename itself survives a crash. A reader therefore sees
either the old file or the complete new one, never a part; a process killed mid-write leaves at
worst a hidden ``.tmp`` file, which :func:`clean_temporary` removes.

This module imports nothing from reglab, so every layer may use it.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = atomic_write_text(folder / "a.txt", "hello\\n")
>>> (folder / "a.txt").read_text()
'hello\\n'
>>> with atomic_path(folder / "b.bin") as tmp:
...     _ = tmp.write_bytes(b"\\x00\\x01")
>>> (folder / "b.bin").read_bytes()
b'\\x00\\x01'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "clean_temporary", "fsync_dir"]

_FILE_MODE = 0o644  # mkstemp makes 0600; reglab's outputs are for reading


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """``fsync`` a folder so a rename inside it is durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and replaces ``path``.

    Write the file at the yielded path by any means (a library's ``save(tmp)``, ``open(tmp, "wb")``).
    If the block raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or PathLike
        The destination. Its folder is created when missing.

    Yields
    ------
    Path
        The temporary path to write (in the same folder, so the final rename is atomic).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> dest = Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(dest) as tmp:
    ...     _ = tmp.write_text("x")
    >>> dest.read_text()
    'x'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        The destination; its folder is created when missing.
    data : bytes
        The whole content.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = atomic_write_bytes(Path(tempfile.mkdtemp()) / "d.bin", b"abc")
    >>> p.read_bytes()
    b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write_bytes needs bytes, got {type(data).__name__}; "
                        "use atomic_write_text for str.")
    dest = Path(path)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return dest


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, encoded as ``encoding`` (UTF-8 by default).

    Parameters
    ----------
    path : str or PathLike
        The destination; its folder is created when missing.
    text : str
        The whole content.
    encoding : str
        The text encoding.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> atomic_write_text(Path(tempfile.mkdtemp()) / "t.txt", "é").read_text(encoding="utf-8")
    'é'
    """
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text needs str, got {type(text).__name__}; "
                        "use atomic_write_bytes for bytes.")
    return atomic_write_bytes(path, text.encode(encoding))


def clean_temporary(folder: str | os.PathLike[str]) -> int:
    """Remove the temporary files that killed writers left in ``folder``; return how many."""
    stale = list(Path(folder).glob(".*.tmp"))
    for f in stale:
        f.unlink(missing_ok=True)
    return len(stale)


def read_yaml_mapping(path: str | os.PathLike[str], what: str, expected: str,
                      loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Mapping[str, Any]:
    """Read a YAML file that must hold a mapping, with a safe loader; every failure is one clear error.

    Parameters
    ----------
    path : str or PathLike
    what : str
        What the file is, for the messages ("Spec file", "Sweep file").
    expected : str
        What the mapping must hold, for the message when it is not a mapping.
    loader : a ``yaml.SafeLoader`` subclass
        Safe loaders only: no ``!!python/...`` tag builds an object.

    Raises
    ------
    IsADirectoryError, FileNotFoundError
        A folder, or nothing, at ``path``.
    ValueError
        Not YAML, not UTF-8, or not a mapping.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "s.yaml"; _ = p.write_text("a: 1")
    >>> dict(read_yaml_mapping(p, "Spec file", "keys"))
    {'a': 1}
    """
    path = Path(path)
    if not issubclass(loader, yaml.SafeLoader):
        raise TypeError("read_yaml_mapping reads with a SafeLoader (or a subclass) only.")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder; give the path of a YAML file in it.")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a SafeLoader, checked above
    except yaml.YAMLError as err:  # includes a refused !!python/... tag: a safe loader builds no objects
        detail = " ".join(str(err).split())
        raise ValueError(f"{what} {str(path)!r} is not valid YAML: {detail}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text: {err}") from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} {str(path)!r} must hold a mapping {expected}; got {type(raw).__name__}.")
    return raw
