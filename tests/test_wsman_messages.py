"""The tool's WS-Management messages are pywinrm's, character for character, and its replies
are read as pywinrm reads them: the templates only save the CPU of writing them."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from winrm.protocol import Protocol

from lmpreflight.collect import winrm as transport

HOSTILE = [
    "0EBB73AF-06E0-470A-8E4D-A10D10D189F0",
    "",
    "a&b<c>d",
    'say "hi"',
    "it's",
    "both ' and \"",
    "]]><x/>&amp;",
    "line\nfeed\rreturn\ttab",
    "café \U0001f600 \u2028",
    "\ue000shell\ue001",
    "control \x01\x1f",
    "echo LMPREFLIGHTSTDIN PT987654321S",  # once fixed stand-ins for stdin and the timeout
]


def _replying(base: type[Protocol], reply: bytes) -> Protocol:
    """A ``base`` protocol that keeps what it sends and answers ``reply``."""

    class Replying(base):  # type: ignore[misc,valid-type]
        sent: list[str | bytes]

        def send_message(self, message: str | bytes) -> bytes:
            self.sent.append(message)
            return reply

    protocol = Replying("http://hv01.corp.example:5985/wsman", transport="ntlm", username="CORP\\a", password="p")
    protocol.sent = []
    return protocol


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("returned", call())
    except BaseException as exc:  # what pywinrm raises on an odd reply is part of what is compared
        return ("raised", type(exc), str(exc))


def _same_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make both sides draw the same message ids: restart the sequence before each side."""
    counter: Iterator[int] = iter(())

    def restart() -> None:
        nonlocal counter
        counter = itertools.count(1)

    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter) * 0x1F2E3D4C5B6A7988))
    restart()
    return restart


def _both(
    monkeypatch: pytest.MonkeyPatch, reply: bytes, operation: Callable[[Protocol], Any], timeout: int = 5
) -> tuple[tuple[Any, list[str | bytes]], tuple[Any, list[str | bytes]]]:
    restart = _same_ids(monkeypatch)
    sides = []
    for base in (Protocol, transport._Protocol):
        restart()
        protocol = _replying(base, reply)
        protocol.operation_timeout_sec = timeout
        sides.append((_outcome(lambda protocol=protocol: operation(protocol)), protocol.sent))
    return sides[0], sides[1]


def _reply(body: str, relates_to: int = 1) -> bytes:
    message_id = uuid.UUID(int=relates_to * 0x1F2E3D4C5B6A7988)
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
        f"<s:Header><a:RelatesTo>uuid:{message_id}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


CREATED = _reply('<w:SelectorSet><w:Selector Name="ShellId">S-1</w:Selector></w:SelectorSet>')
COMMAND = _reply("<rsp:CommandResponse><rsp:CommandId>C-1</rsp:CommandId></rsp:CommandResponse>")


@pytest.mark.parametrize("value", HOSTILE)
def test_every_message_is_what_pywinrm_writes_for_the_same_values(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    operations: list[tuple[bytes, Callable[[Protocol], Any]]] = [
        (CREATED, lambda p: p.open_shell(codepage=65001)),
        (
            CREATED,
            lambda p: p.open_shell(value, value, value, {value or "x": value, "PATH": "C:\\"}, True, 437, None, 30),
        ),
        (CREATED, lambda p: p.open_shell(working_directory=value, idle_timeout=value or None, env_vars={})),
        (COMMAND, lambda p: p.run_command(value, "powershell.exe", ["-NoProfile", b"-Command", value], False)),
        (COMMAND, lambda p: p.run_command(value, value, (), True, True)),
        (COMMAND, lambda p: p.run_command(value, "cmd", iter(()))),
        (_reply("<rsp:SendResponse/>"), lambda p: p.send_command_input(value, value, b"\x00\xff" * 40_000, True)),
        (_reply("<rsp:SendResponse/>"), lambda p: p.send_command_input(value, value, "é" + value.isascii() * "x")),
        (_reply(""), lambda p: p.get_command_output_raw(value, value)),
        (_reply(""), lambda p: p.cleanup_command(value, value)),
        (_reply(""), lambda p: p.close_shell(value)),
        (_reply(""), lambda p: p.close_shell(value, close_session=False)),
    ]
    for reply, operation in operations:
        for timeout in (5, 30):
            pywinrm, ours = _both(monkeypatch, reply, operation, timeout)
            assert ours == pywinrm


def _streams(*streams: str, state: str = "Running", code: str | None = None) -> bytes:
    exit_code = "" if code is None else f"<rsp:ExitCode>{code}</rsp:ExitCode>"
    return _reply(
        "<rsp:ReceiveResponse>"
        + "".join(streams)
        + f'<rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'
        f'CommandState/{state}">{exit_code}</rsp:CommandState></rsp:ReceiveResponse>'
    )


def _stream(name: str | None, data: bytes | str) -> str:
    text = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    named = "" if name is None else f' Name="{name}"'
    return f'<rsp:Stream{named} CommandId="C">{text}</rsp:Stream>'


@pytest.mark.parametrize(
    "reply",
    [
        _streams(_stream("stdout", b"one"), _stream("stderr", b"two"), _stream("stdout", b"three")),
        _streams(_stream("stdout", b""), _stream("stdin", b"ignored"), state="Done", code="0"),
        _streams(_stream("stdout", b"x"), state="Done", code="3"),
        _streams(state="Done"),
        _streams(state="Done", code=""),
        _streams(state="Done", code="not a number"),
        _streams(_stream(None, b"x")),
        _streams(_stream(None, b"")),
        _streams(_stream("stdout", "é not base64")),
        _streams(_stream("stdout", "a*b=c")),
        _streams(state="Done", code="0") + b"",
        _reply(_streams(state="Done", code="1").decode() + _streams(state="Done", code="2").decode()),
        _reply("<rsp:ExitCode>7</rsp:ExitCode>"),
        b"not xml",
        CREATED,
    ],
)
def test_every_receive_reply_is_read_as_pywinrm_reads_it(reply: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    (pywinrm, _), (ours, _) = _both(monkeypatch, reply, lambda p: p.get_command_output_raw("S", "C"))
    assert ours == pywinrm


@pytest.mark.parametrize(
    "reply",
    [CREATED, COMMAND, _reply(""), _reply("", relates_to=2), _reply('<x Name="ShellId"/>'), b"<broken", b"<a/>"],
)
def test_every_other_reply_is_read_as_pywinrm_reads_it(reply: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    operations: list[Callable[[Protocol], Any]] = [
        lambda p: p.open_shell(codepage=65001),
        lambda p: p.run_command("S", "powershell.exe", ["-NoProfile"]),
        lambda p: p.cleanup_command("S", "C"),
        lambda p: p.close_shell("S"),
    ]
    for operation in operations:
        (pywinrm, _), (ours, _) = _both(monkeypatch, reply, operation)
        assert ours == pywinrm
