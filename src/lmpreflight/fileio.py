"""Writing output files so that a failure never leaves a half-written report behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lmpreflight.errors import UserError


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temp_name).replace(path)
    except OSError as exc:
        Path(temp_name).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
