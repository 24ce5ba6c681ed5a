"""Writing output files so that a failure never leaves a half-written report behind, and a
special file named as the output (``/dev/null``, ``/dev/stdout``, a FIFO, a terminal) is
written into instead of being replaced by a regular file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from lmpreflight.errors import UserError

UTF8_BOM = "\ufeff"


def powershell_text(script: str) -> str:
    """A script as a ``.ps1`` file must hold it: UTF-8 with a byte-order mark. Windows
    PowerShell 5.1 reads a file without one in the ANSI code page, so any non-ASCII byte
    would change meaning (the tool's literals are ASCII-only as a second line of defence)."""
    return script if script.startswith(UTF8_BOM) else UTF8_BOM + script


_STREAM_FOLDERS = ("/dev/", "/proc/")
"""Paths that name open streams (``/dev/stdout`` → ``/proc/self/fd/1``): always written into."""


def write_atomic(path: Path, content: str | bytes | Iterable[str]) -> None:
    """Write a regular file through a temporary file beside ``path`` and a rename, keeping an
    existing file's mode and owner; write straight into a device, FIFO or stream path.
    ``content`` may be text written piece by piece (a fleet-sized report need not be one
    string in memory, twice over once encoded)."""
    data = _encoded(content)
    if is_special(path):
        _write_into(path, data)
    else:
        _replace(path, data)


def _encoded(content: str | bytes | Iterable[str]) -> Iterator[bytes]:
    if isinstance(content, bytes):
        yield content
    elif isinstance(content, str):
        yield content.encode("utf-8")
    else:
        for piece in content:
            yield piece.encode("utf-8")


def is_special(path: Path) -> bool:
    """Whether ``path`` names something other than a regular file to replace (refusing a
    folder or a socket)."""
    try:
        followed = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(followed.st_mode):
        raise UserError(f"cannot write {path}: it is a folder; name a file")
    if stat.S_ISSOCK(followed.st_mode):
        raise UserError(f"cannot write {path}: it is a socket")
    resolved = os.path.realpath(path)
    return not stat.S_ISREG(followed.st_mode) or resolved.startswith(_STREAM_FOLDERS)


def _write_into(path: Path, data: Iterable[bytes]) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in data:
                handle.write(piece)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _replace(path: Path, data: Iterable[bytes]) -> None:
    directory = path.parent if str(path.parent) else Path()
    try:
        existing: os.stat_result | None = path.lstat()
    except OSError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        existing = None  # a symbolic link is replaced, not followed; the new file is private
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in data:
                handle.write(piece)
            if existing is not None:
                _keep_mode_and_owner(handle.fileno(), existing)
        Path(temp_name).replace(path)
    except OSError as exc:
        Path(temp_name).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _keep_mode_and_owner(fd: int, existing: os.stat_result) -> None:
    """The replaced file's permissions and owner carry over; only root can give a file away,
    so another owner is kept only when running as root (otherwise the file becomes ours)."""
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    if hasattr(os, "fchown"):
        with contextlib.suppress(PermissionError):
            os.fchown(fd, existing.st_uid, existing.st_gid)
