"""Keeping the raw exchange with a host (``--record DIR``), so an admin can send it back and
the lab can replay it as a host: the collector's stdout and stderr exactly as the transport
returned them, and a small manifest. The password is cut out of both streams before they
touch the disk (it never travels in the script, but a host could echo it back)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmpreflight._version import __version__
from lmpreflight.errors import UserError
from lmpreflight.fileio import write_atomic

STDOUT = "stdout.bin"
STDERR = "stderr.bin"
MANIFEST = "manifest.json"
REDACTED = b"[redacted]"
FORMAT_VERSION = 1

_UNSAFE_FILE_CHARACTERS = re.compile(r"[^a-z0-9_.-]+")


@dataclass
class Transcript:
    """What one host sent while the collector ran, appended as each Receive arrives; with
    ``keep`` off (no ``--record``) only the exit code is noted, so output is not held twice."""

    keep: bool = True
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_code: int | None = None

    def add(self, out: bytes, err: bytes) -> None:
        if self.keep:
            self.stdout += out
            self.stderr += err


def recording_folder(record_dir: Path, host: str) -> Path:
    """The folder for one host's recording, named from the host as the admin typed it (never
    from what the host reports); only ``[a-z0-9_.-]`` survive, and no name starts with a dot,
    so the folder stays inside ``record_dir``."""
    name = _UNSAFE_FILE_CHARACTERS.sub("_", host.casefold()).strip("_.") or "host"
    return record_dir / name


def refuse_existing(record_dir: Path, hosts: list[str]) -> None:
    """Before any host is contacted: the folder exists and no recording would be overwritten."""
    if not record_dir.is_dir():
        raise UserError(f"--record {record_dir}: not a folder")
    for host in hosts:
        folder = recording_folder(record_dir, host)
        if folder.exists():
            raise UserError(f"--record: {folder} already exists; move it away or choose another folder")


def redact(data: bytes, secrets: list[str]) -> bytes:
    """``data`` without any secret, in the encodings a host could send it back in."""
    for secret in secrets:
        if not secret:
            continue
        for encoding in ("utf-8", "utf-16-le"):
            data = data.replace(secret.encode(encoding), REDACTED)
    return data


def write_recording(
    record_dir: Path, host: str, transport: str, transcript: Transcript, outcome: str, secrets: list[str]
) -> Path:
    """Write one host's recording into its own new folder; refuse to overwrite one."""
    folder = recording_folder(record_dir, host)
    try:
        folder.mkdir()
    except FileExistsError:
        raise UserError(f"--record: {folder} already exists; move it away or choose another folder") from None
    except OSError as exc:
        raise UserError(f"--record: cannot create {folder}: {exc.strerror or exc}") from None
    manifest: dict[str, Any] = {
        "lmpreflight_recording": FORMAT_VERSION,
        "tool_version": __version__,
        "host": host,
        "recorded_at": datetime.now(UTC).isoformat(),
        "transport": transport,
        "exit_code": transcript.exit_code,
        "outcome": outcome,
    }
    write_atomic(folder / STDOUT, redact(bytes(transcript.stdout), secrets))
    write_atomic(folder / STDERR, redact(bytes(transcript.stderr), secrets))
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return folder


@dataclass(frozen=True)
class Recording:
    """A recording read back, for the lab to replay."""

    stdout: bytes
    stderr: bytes
    exit_code: int


def read_recording(folder: Path) -> Recording:
    """A recording folder written by ``write_recording``; one-line errors for anything else."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        stdout = (folder / STDOUT).read_bytes()
        stderr = (folder / STDERR).read_bytes()
    except (OSError, ValueError) as exc:
        raise UserError(f"replay {folder}: not a recording ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("lmpreflight_recording") != FORMAT_VERSION:
        raise UserError(f"replay {folder}: not a recording of this format")
    code = manifest.get("exit_code")
    return Recording(stdout, stderr, code if isinstance(code, int) else 1)
