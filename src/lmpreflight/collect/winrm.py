"""Running the collector on one host over WinRM: one shell, one PowerShell process.

pywinrm's convenient ``run_ps`` is not used: it fails silently past ~3,000 characters,
leaks the shell when a step raises, decodes output as cp437, and its output loop retries
operation timeouts forever. Here the shell is opened with code page 65001, the script
travels as UTF-8 bytes on stdin behind a short bootstrap, every Receive is bounded by the
host's deadline, and the command and shell are always closed in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from lmpreflight.collect.script import StageTwoRequest, bootstrap_arguments, stdin_payload

SEND_CHUNK = 150_000
"""Bytes of stdin per Send: with base64 and the envelope, well under the 500 KB MaxEnvelopeSize."""
STAGE_ONE_MARKER = b'{"lmpreflight_collector"'
OPERATION_TIMEOUT = 5
"""Seconds a Receive may wait on the host; short, so the tool's own deadline stays precise."""

TRANSPORT_EXTRAS = {"kerberos": "kerberos", "credssp": "credssp"}


@dataclass(frozen=True)
class Connection:
    """How to reach one host. The password lives only here, never in messages or logs."""

    host: str
    endpoint: str
    transport: str
    username: str | None
    password: str | None
    ca_cert: str | None = None
    verify: bool = True
    cert_pem: str | None = None
    cert_key_pem: str | None = None

    def __repr__(self) -> str:
        return f"Connection(host={self.host!r}, endpoint={self.endpoint!r}, transport={self.transport!r})"


class CollectionFailed(Exception):
    """One line saying what went wrong with the host, and a hint saying how to fix it."""

    def __init__(self, message: str, hint: str | None = None, credentials_rejected: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.credentials_rejected = credentials_rejected


class Cancelled(Exception):
    """The user interrupted the run; the shell is closed on the way out."""


@dataclass
class StageOne:
    """The collector's facts document, and the tool's clock when it arrived (the reference
    the host's clock is compared with)."""

    document: dict[str, Any]
    received_utc: datetime


StageTwoFor = Callable[[StageOne], StageTwoRequest]


def _protocol(connection: Connection) -> Protocol:
    options: dict[str, Any] = {
        "transport": "plaintext" if connection.transport == "basic" else connection.transport,
        "username": connection.username,
        "password": connection.password,
        "server_cert_validation": "validate" if connection.verify else "ignore",
        "ca_trust_path": connection.ca_cert,
        "read_timeout_sec": OPERATION_TIMEOUT + 10,
        "operation_timeout_sec": OPERATION_TIMEOUT,
        "proxy": None,
    }
    if connection.transport == "certificate":
        options.update(cert_pem=connection.cert_pem, cert_key_pem=connection.cert_key_pem, username=None, password=None)
    return Protocol(connection.endpoint, **options)


def describe(exc: BaseException, connection: Connection) -> CollectionFailed:
    """Turn whatever pywinrm or requests raised into one line with a fix."""
    host, endpoint = connection.host, connection.endpoint
    if isinstance(exc, CollectionFailed):
        return exc
    extra = TRANSPORT_EXTRAS.get(connection.transport)
    if extra and isinstance(exc, WinRMError) and "not installed" in str(exc):
        return CollectionFailed(
            f"the {connection.transport} transport needs extra packages",
            f"install them with: pip install 'lmpreflight[{extra}]'",
        )
    if isinstance(exc, InvalidCredentialsError):
        return CollectionFailed(
            f"{host} rejected the credentials of {connection.username or 'the certificate'}",
            "check the user name (DOMAIN\\user) and password, and that the account may use WinRM on the host",
            credentials_rejected=True,
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return CollectionFailed(
            f"TLS to {endpoint} failed: the host's certificate is not trusted or does not match its name",
            "pass --ca-cert FILE with the issuing CA (or --no-verify, not recommended)",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo" in text:
            return CollectionFailed(f"cannot resolve {host}", "check the name, or pass --endpoint NAME=URL")
        if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
            return CollectionFailed(
                f"{host} stopped answering ({endpoint})", "check the host and the network, then retry"
            )
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return CollectionFailed(
                f"{host} closed the connection mid-collection ({endpoint})",
                "check the WinRM service and event log on the host, then retry",
            )
        return CollectionFailed(
            f"cannot connect to WinRM on {endpoint} (connection refused or unreachable)",
            "enable the listener on the host (Enable-PSRemoting -Force, or winrm quickconfig) and allow TCP 5985/5986",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return CollectionFailed(f"{host} stopped answering ({endpoint})", "check the host and the network, then retry")
    if isinstance(exc, WSManFaultError):
        return CollectionFailed(
            f"{host} returned a WS-Management fault: {exc.reason or exc}", "see the WinRM event log on the host"
        )
    if isinstance(exc, WinRMTransportError):
        hint = (
            "the host refuses unencrypted messages over HTTP: use --https, or --transport ntlm or kerberos, "
            "which encrypt the messages themselves"
            if "500" in str(exc)
            else None
        )
        return CollectionFailed(f"{host} answered HTTP {exc.code}", hint)
    return CollectionFailed(f"collection from {host} failed: {type(exc).__name__}: {exc}")


def run_collector(
    connection: Connection,
    script: str,
    stage_two_for: StageTwoFor,
    deadline: float,
    cancel: threading.Event,
    on_progress: Callable[[str], None] = lambda stage: None,
) -> tuple[StageOne, dict[str, Any]]:
    """Run the collector; return its stage-one document and its stage-two answer."""
    try:
        on_progress("connecting")
        protocol = _protocol(connection)
        shell = protocol.open_shell(codepage=65001)
    except BaseException as exc:
        raise describe(exc, connection) from None
    try:
        command = protocol.run_command(shell, "powershell.exe", bootstrap_arguments(), console_mode_stdin=False)
        try:
            on_progress("collecting")
            return _converse(protocol, shell, command, connection, script, stage_two_for, deadline, cancel)
        finally:
            _quietly(lambda: protocol.cleanup_command(shell, command))
    except (CollectionFailed, Cancelled):
        raise
    except BaseException as exc:
        raise describe(exc, connection) from None
    finally:
        _close_shell(protocol, shell, connection)


def _quietly(action: Callable[[], None]) -> bool:
    """Closing is best effort: a host that stopped answering must not hide the real error."""
    try:
        action()
    except Exception:
        return False
    return True


def _close_shell(protocol: Protocol, shell: str, connection: Connection) -> None:
    """Close the shell; after a dropped connection, pywinrm cannot reuse its session (it
    re-sends messages sealed under the old context), so a fresh one closes the shell."""
    if _quietly(lambda: protocol.close_shell(shell)):
        return
    with contextlib.suppress(Exception):
        fresh = _protocol(connection)
        fresh.read_timeout_sec, fresh.operation_timeout_sec = 5, 3
        fresh.close_shell(shell)


def _converse(
    protocol: Protocol,
    shell: str,
    command: str,
    connection: Connection,
    script: str,
    stage_two_for: StageTwoFor,
    deadline: float,
    cancel: threading.Event,
) -> tuple[StageOne, dict[str, Any]]:
    payload = stdin_payload(script)
    for offset in range(0, len(payload), SEND_CHUNK):
        protocol.send_command_input(shell, command, payload[offset : offset + SEND_CHUNK], end=False)
    stdout, stderr = bytearray(), bytearray()
    stage_one: StageOne | None = None
    exit_code: int | None = None
    noise = b""
    while exit_code is None:
        if cancel.is_set():
            raise Cancelled()
        if time.monotonic() > deadline:
            raise CollectionFailed(
                f"{connection.host} did not finish the collection in time",
                "the host may be overloaded or a cmdlet is hanging; raise --timeout or run the offline collector script",
            )
        # Never let one Receive wait past the deadline on the host.
        protocol.operation_timeout_sec = max(1, min(OPERATION_TIMEOUT, int(deadline - time.monotonic())))
        try:
            out, err, code, done = protocol.get_command_output_raw(shell, command)
        except WinRMOperationTimeoutError:
            continue
        stdout += out
        stderr += err
        if done:
            exit_code = code
        while stage_one is None and b"\n" in stdout:
            # Anything a host prints before the collector's document (a banner, a warning) is
            # skipped; what matters is the line the collector wrote.
            line, _, rest = bytes(stdout).partition(b"\n")
            stdout = bytearray(rest)
            if not line.lstrip(b"\xef\xbb\xbf \t").startswith(STAGE_ONE_MARKER):
                noise = noise or line
                continue
            stage_one = StageOne(_decode_document(line, connection), datetime.now(UTC))
            if exit_code is None:
                request = stage_two_for(stage_one)
                protocol.send_command_input(shell, command, request.line(), end=True)
    if stage_one is None:
        if noise or stdout.strip():
            _decode_document(bytes(noise or stdout), connection)
        raise CollectionFailed(
            _no_output_message(connection, exit_code, stdout, stderr),
            "run 'lmpreflight collector-script' on the host to see the error there",
        )
    stage_two: dict[str, Any] = {}
    for line in bytes(stdout).splitlines():
        if line.strip():
            stage_two = _decode_document(line, connection)
    return stage_one, stage_two


def _decode_document(line: bytes, connection: Connection) -> dict[str, Any]:
    try:
        document = json.loads(line.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        preview = line[:80].decode("utf-8", "replace").strip()
        raise CollectionFailed(
            f"the collector's output from {connection.host} is not JSON (starts with {preview!r})",
            "a profile or logon script may print to the console; run 'lmpreflight collector-script' on the host",
        ) from None
    if not isinstance(document, dict):
        raise CollectionFailed(f"the collector's output from {connection.host} is not a JSON object")
    return document


def _no_output_message(connection: Connection, exit_code: int | None, stdout: bytearray, stderr: bytearray) -> str:
    text = (bytes(stderr) or bytes(stdout)).decode("utf-8", "replace")
    if '<S S="Error">' in text:
        text = " ".join(part.split("</S>")[0] for part in text.split('<S S="Error">')[1:])
        text = text.replace("_x000D__x000A_", " ")
    text = " ".join(text.split())[:200] or "no output"
    return f"the collector on {connection.host} ended with exit code {exit_code}: {text}"
