"""A WS-Management (WinRS) server on loopback that pywinrm's unmodified client talks to.

It implements what a Windows WinRM listener does for the remote shell: Create, Command,
Send, Receive, Signal and Delete, with SOAP faults, output in 4 KB chunks (as many in one
Receive reply as the envelope holds, more replies as it grows or trickles) and operation
timeouts. Authentication is NTLM with MS-WSMV message encryption
(pyspnego's acceptor; the realistic default for domain-joined hosts) or Basic; HTTPS is
optional. What runs inside a shell is delegated to a :class:`CommandRunner`: the lab's
simulated host.
"""

from __future__ import annotations

import base64
import functools
import hmac
import io
import os
import re
import ssl
import string
import struct
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Protocol
from xml.sax.saxutils import escape

import spnego
from spnego._ntlm_raw.messages import NegotiateFlags

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL = NS["rsp"]
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{SHELL}/Command"
ACTION_SEND = f"{SHELL}/Send"
ACTION_RECEIVE = f"{SHELL}/Receive"
ACTION_SIGNAL = f"{SHELL}/Signal"
STATE_DONE = f"{SHELL}/CommandState/Done"
STATE_RUNNING = f"{SHELL}/CommandState/Running"
BOUNDARY = b"--Encrypted Boundary"
ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CMD_LINE_LIMIT = 8191
OUTPUT_CHUNK = 4096
RECEIVE_OUTPUT_LIMIT = 96 * 1024
"""Bytes of output one ReceiveResponse carries at most. Windows packs the output it holds
into one response as several ``rsp:Stream`` elements, with the end of the streams and the
Done state when the command has ended (pywinrm's recorded responses, winrm/tests/conftest.py),
within the client's MaxEnvelopeSize: pywinrm asks for 153,600 bytes, and base64 makes 96 KiB
of output 128 KiB."""


class Process(Protocol):
    """A command running in a simulated shell."""

    def feed_stdin(self, data: bytes, end: bool) -> None: ...

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        """New stdout and stderr since the last poll, and the exit code once finished.
        Waits up to ``timeout`` seconds for something to happen."""
        ...

    def terminate(self) -> None: ...


class CommandRunner(Protocol):
    def start(self, command_line: str, codepage: int) -> Process: ...


class ConnectionDropped(Exception):
    """The host vanished mid-conversation: the server closes the socket without a reply."""


RECEIVER_FAULTS = frozenset({"w:TimedOut", "w:InternalError"})
"""The WS-Management faults Windows blames on itself (SOAP code s:Receiver); it blames every
other one the lab gives on the request (s:Sender). wsmerror.h, the Windows SDK's list of WinRM
errors, gives each error's SOAP code beside its subcode ("wsman, code=Sender, subcode=WS-Management
QuotaLimit"; "code=Receiver, subcode=WS-Management Timedout"; InvalidSelectors, InvalidParameter,
SchemaValidationError and EncodingLimit are code=Sender, ActionNotSupported "wsa, code=Sender"),
and DMTF DSP0226 (the WS-Management standard) makes wsman:InternalError a Receiver fault."""


class WsmanFault(Exception):
    def __init__(self, code: int, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason = code, subcode, reason

    @property
    def soap_code(self) -> str:
        """The fault's SOAP code, whose side Windows says the fault is on (``RECEIVER_FAULTS``)."""
        return "s:Receiver" if self.subcode in RECEIVER_FAULTS else "s:Sender"


ERROR_BUSY = 170
ERROR_WSMAN_QUOTA_MAX_SHELLS = 2150859173
"""0x803381A5, with wsman:QuotaLimit: the answer to a Create past MaxShellsPerUser (MS-WSMV
3.1.4.5.2.1: "SHOULD be returned by the wst:Create operation when a quota limit is exceeded";
the code is wsman.h's, the message the one Windows gives, as quoted by the PowerShell team's
"Configuring WSMAN Limits", devblogs.microsoft.com/powershell/configuring-wsman-limits)."""
TIMED_OUT = (
    2150858793,
    "w:TimedOut",
    "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
)


class NtlmUsers:
    """The accounts the NTLM acceptor knows. pyspnego reads them from the file named by
    NTLM_USER_FILE, one process-wide variable, so every lab in a process shares one file.
    It holds password hashes, so it is removed when the last running lab stops."""

    _lock = threading.Lock()
    _path: str | None = None
    _known: ClassVar[set[str]] = set()
    _labs = 0

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            cls._labs += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._labs = max(0, cls._labs - 1)
            if cls._labs == 0 and cls._path is not None:
                Path(cls._path).unlink(missing_ok=True)
                if os.environ.get("NTLM_USER_FILE") == cls._path:
                    del os.environ["NTLM_USER_FILE"]
                cls._path = None
                cls._known.clear()

    @classmethod
    def path(cls) -> str | None:
        return cls._path

    @classmethod
    def register(cls, domain: str, user: str, password: str, dns_domain: str) -> None:
        """The account under the names a client may give (DOMAIN\\user, user@domain, user), with
        its LM and NT hashes as a DC stores them (smbpasswd lines): pyspnego reads the file on
        every logon and would otherwise derive the LM hash again each time, with DES in Python."""
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

        hashes = f"{lmowfv1(password).hex().upper()}:{ntowfv1(password).hex().upper()}"
        lines = [f"{name}:0:{hashes}:[U]:LCT-0" for name in (f"{domain}\\{user}", f"{user}@{dns_domain}", user)]
        with cls._lock:
            if cls._path is None:
                handle, cls._path = tempfile.mkstemp(prefix="lmpreflight-lab-ntlm-", suffix=".txt")
                os.close(handle)
                os.environ["NTLM_USER_FILE"] = cls._path
            new = [line for line in lines if line not in cls._known]
            if new:
                with Path(cls._path).open("a", encoding="utf-8") as handle_:
                    handle_.write("".join(f"{line}\n" for line in new))
                cls._known.update(new)


class NtlmSealing:
    """MS-NLMP message confidentiality for one authenticated connection, the acceptor's side,
    when the handshake negotiated extended session security and signing (as every WinRM
    client does): the sealing keys and RC4 streams pyspnego's own functions derive from the
    session key, and each message's signature as pyspnego computes it (MS-NLMP 3.4.4.2),
    so the bytes are its bytes. pyspnego's wrap and unwrap test the context's flags through
    enum operations for every message, which cost the lab more than the RC4 and HMAC-MD5."""

    def __init__(self, session_key: bytes, flags: int) -> None:
        from spnego._ntlm_raw.crypto import rc4init, sealkey, signkey

        self.key_exchange = bool(flags & NegotiateFlags.key_exch)
        self.sign_out, self.sign_in = signkey(flags, session_key, "accept"), signkey(flags, session_key, "initiate")
        self.seal_out = rc4init(sealkey(flags, session_key, "accept"))
        self.seal_in = rc4init(sealkey(flags, session_key, "initiate"))
        self.sent = self.received = 0

    @classmethod
    def of(cls, context: Any) -> Any:
        """The sealing of a completed pyspnego acceptor: this class's, or the context itself
        (its ``wrap_winrm``/``unwrap_winrm``) for flags this class does not cover."""
        flags = int(context._context_attr)
        if flags & NegotiateFlags.extended_session_security and flags & NegotiateFlags.sign:
            return cls(context.session_key, flags)
        return context

    def wrap_winrm(self, message: bytes) -> spnego.WinRMWrapResult:
        sealed = self.seal_out.update(message)
        signature = self._signature(self.sign_out, self.sent, message, self.seal_out)
        self.sent += 1
        return spnego.WinRMWrapResult(signature, sealed, 0)

    def unwrap_winrm(self, signature: bytes, sealed: bytes) -> bytes:
        message = self.seal_in.update(sealed)
        expected = self._signature(self.sign_in, self.received, message, self.seal_in)
        self.received += 1
        if not hmac.compare_digest(expected, signature):
            raise ValueError("the message's signature is not this session's")
        return message

    def _signature(self, key: bytes, number: int, message: bytes, stream: Any) -> bytes:
        sequence = number.to_bytes(4, "little")
        checksum = hmac.digest(key, sequence + message, "md5")[:8]
        if self.key_exchange:
            checksum = stream.update(checksum)
        return b"\x01\x00\x00\x00" + checksum + sequence


@dataclass
class WsmanOptions:
    auth: str = "ntlm"
    basic_users: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    max_envelope: int = 512_000
    tls: ssl.SSLContext | None = None
    allow_unencrypted: bool = False
    create_latency: float = 0.0
    """Seconds a Create takes to start the shell, beyond the exchange's own latency: the host
    makes the shell whether or not the client still waits for the answer."""
    max_shells_per_user: int = 30
    """winrm/config/winrs MaxShellsPerUser, 30 by default (learn.microsoft.com/windows/win32/winrm/quotas).
    The lab serves one user, so every open shell counts; a shell never deleted stays open (on
    Windows until its IdleTimeout) and a Create past the quota is refused with wsman:QuotaLimit."""
    faults: dict[str, int] = field(default_factory=dict)
    """How many of the first Sends or Receives a loaded host turns away: ``busy_send``,
    ``busy_receive`` (ERROR_BUSY, 170) and ``timeout_send`` (w:TimedOut after the operation
    timeout, shortened to half a second so tests stay quick)."""


@dataclass
class _Command:
    process: Process
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_code: int | None = None
    finished_reported: bool = False


@dataclass
class _Shell:
    codepage: int
    commands: dict[str, _Command] = field(default_factory=dict)


@dataclass
class WsmanStats:
    http_requests: int = 0
    processes: int = 0
    shells_created: int = 0
    failed_logons: int = 0
    actions: list[str] = field(default_factory=list)


class WsmanServer:
    """One simulated host's WinRM listener."""

    def __init__(self, runner: CommandRunner, options: WsmanOptions, host_name: str = "localhost") -> None:
        self.runner = runner
        self.options = options
        self.host_name = host_name
        self.shells: dict[str, _Shell] = {}
        self.stats = WsmanStats()
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.shared_url: str | None = None
        """Set when a :class:`SharedListener` serves this host instead of its own listener."""

    @property
    def url(self) -> str:
        if self.shared_url is not None:
            return self.shared_url
        assert self._httpd is not None
        scheme = "https" if self.options.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}/wsman"

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        if self.options.tls is not None:
            httpd.socket = self.options.tls.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name=f"wsman-{self.host_name}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self.lock:
            for shell in self.shells.values():
                for command in shell.commands.values():
                    command.process.terminate()
            self.shells.clear()

    # --- WinRS operations ---------------------------------------------------------------

    def create(self, options: dict[str, str]) -> str:
        shell_id = str(uuid.uuid4()).upper()
        if self.options.create_latency:
            time.sleep(self.options.create_latency)
        with self.lock:
            if len(self.shells) >= self.options.max_shells_per_user:
                raise WsmanFault(
                    ERROR_WSMAN_QUOTA_MAX_SHELLS,
                    "w:QuotaLimit",
                    "The WS-Management service cannot process the request. This user is allowed a maximum number "
                    f"of {self.options.max_shells_per_user} concurrent shells, which has been exceeded. Close "
                    "existing shells or raise the quota for this user.",
                )
            self.shells[shell_id] = _Shell(codepage=int(options.get("WINRS_CODEPAGE", "437")))
            self.stats.shells_created += 1
        return shell_id

    def shell(self, shell_id: str | None) -> _Shell:
        with self.lock:
            shell = self.shells.get(shell_id or "")
        if shell is None:
            raise WsmanFault(
                2150858843,
                "w:InvalidSelectors",
                "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.",
            )
        return shell

    def command(self, shell_id: str | None, command_line: str) -> str:
        shell = self.shell(shell_id)
        command_id = str(uuid.uuid4()).upper()
        if len(command_line) > CMD_LINE_LIMIT:
            process: Process = _FinishedProcess(b"", b"The command line is too long.\r\n", 1)
        else:
            process = self.runner.start(command_line, shell.codepage)
            with self.lock:
                self.stats.processes += 1
        shell.commands[command_id] = _Command(process)
        return command_id

    def _turn_away(self, kind: str, timeout: float) -> None:
        """A loaded Windows host answers busy, or times out, before it takes the request."""
        with self.lock:
            busy = self.options.faults.get(f"busy_{kind}", 0)
            if busy > 0:
                self.options.faults[f"busy_{kind}"] = busy - 1
                raise WsmanFault(ERROR_BUSY, "w:InternalError", "The requested resource is in use.")
            late = self.options.faults.get(f"timeout_{kind}", 0)
            if late > 0:
                self.options.faults[f"timeout_{kind}"] = late - 1
        if late > 0:
            time.sleep(min(timeout, 0.5))
            raise WsmanFault(*TIMED_OUT)

    def send(self, shell_id: str | None, command_id: str, data: bytes, end: bool, timeout: float = 0.0) -> None:
        self._turn_away("send", timeout)
        command = self.shell(shell_id).commands.get(command_id)
        if command is None or command.exit_code is not None:
            raise WsmanFault(2150859143, "w:InvalidParameter", "The pipe is being closed.")
        command.process.feed_stdin(data, end)

    def receive(
        self, shell_id: str | None, command_id: str, timeout: float
    ) -> tuple[list[tuple[str, bytes]], int | None]:
        self._turn_away("receive", timeout)
        command = self.shell(shell_id).commands.get(command_id)
        if command is None:
            raise WsmanFault(2150858843, "w:InvalidSelectors", "The command is not known to this shell.")
        if not command.stdout and not command.stderr and command.exit_code is None:
            out, err, code = command.process.poll(timeout)
            command.stdout += out
            command.stderr += err
            command.exit_code = code
        streams: list[tuple[str, bytes]] = []
        room = RECEIVE_OUTPUT_LIMIT
        for name, buffer in (("stdout", command.stdout), ("stderr", command.stderr)):
            while buffer and room > 0:
                chunk = bytes(buffer[: min(OUTPUT_CHUNK, room)])
                del buffer[: len(chunk)]
                streams.append((name, chunk))
                room -= len(chunk)
        if not streams and command.exit_code is None:
            raise WsmanFault(*TIMED_OUT)
        finished = command.exit_code is not None and not command.stdout and not command.stderr
        return streams, command.exit_code if finished else None

    def signal(self, shell_id: str | None, command_id: str) -> None:
        shell = self.shell(shell_id)
        command = shell.commands.pop(command_id, None)
        if command is not None:
            command.process.terminate()

    def delete(self, shell_id: str | None) -> None:
        shell = self.shell(shell_id)
        for command in shell.commands.values():
            command.process.terminate()
        with self.lock:
            self.shells.pop(shell_id or "", None)


class _FinishedProcess:
    def __init__(self, stdout: bytes, stderr: bytes, code: int) -> None:
        self.result = (stdout, stderr, code)

    def feed_stdin(self, data: bytes, end: bool) -> None:
        return None

    def poll(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        return self.result

    def terminate(self) -> None:
        return None


STREAM_START = b"<rsp:Stream "
STREAM_END = b"</rsp:Stream>"
BASE64_CHARACTERS = (string.ascii_letters + string.digits + "+/=").encode()
STREAM_PLACEHOLDER = b"LMPREFLIGHTLABSTREAMTEXT"
"""Stands in for a Send's stream text while the rest of the request is parsed: base64
characters itself, so any context that holds the text holds it the same way."""
LONG_STREAM = 1024
"""Stream texts shorter than this are parsed with the rest: setting them aside buys nothing."""
SPELLED_OTHERWISE = (b"<!", b"&#")
"""What lets a request spell text other than as its bytes (a comment, CDATA or a DOCTYPE's
entities; a character reference), and so spell the placeholder without holding its bytes.
A processing instruction does too, past the XML declaration that opens a request."""


def request_tree(body: bytes) -> ET.Element:
    """``ET.fromstring(body)``, with a Send's stream text (the collector script, some 40 kB of
    base64) set aside while expat reads the rest: expat and ElementTree take that text a piece
    at a time, which cost the lab more CPU than parsing the rest of the request. The text is
    set aside only when it is base64 characters alone, character data every XML context reads
    as itself; the placeholder parsed in its place must come back as one element's whole text,
    which then gets the text, so the tree is the one the whole parse gives. Anything else (no
    such text, the placeholder already in the request, the text elsewhere than an element's
    own, a request that could spell the placeholder otherwise than as its bytes) is parsed
    whole, as are requests that do not parse, for ElementTree's own error."""
    opened = body.find(STREAM_START)
    start = body.find(b">", opened) + 1 if opened >= 0 else 0
    end = body.find(STREAM_END, start) if start else -1
    if end - start < LONG_STREAM or STREAM_PLACEHOLDER in body or _spelled_otherwise(body):
        return ET.fromstring(body)
    text = _base64_text(body[start:end])
    if text is None:
        return ET.fromstring(body)
    try:
        root = ET.fromstring(b"".join((body[:start], STREAM_PLACEHOLDER, body[end:])))
    except ET.ParseError:
        return ET.fromstring(body)
    placeholder = STREAM_PLACEHOLDER.decode()
    holders = [element for element in root.iter() if element.text == placeholder]
    if len(holders) != 1:
        return ET.fromstring(body)
    holders[0].text = text
    return root


def _spelled_otherwise(body: bytes) -> bool:
    """Whether ``body`` holds a way to spell text other than as its bytes (SPELLED_OTHERWISE)."""
    return any(way in body for way in SPELLED_OTHERWISE) or body.find(b"<?", 1) >= 0


@functools.lru_cache(maxsize=8)
def _base64_text(raw: bytes) -> str | None:
    """``raw`` as text when it is base64 characters alone, else ``None``: looked at once for
    every host sent the same stream (a fleet's hosts are each sent the same collector script),
    and the same text handed on, so :func:`_stdin` finds it without hashing it again."""
    return None if raw.translate(None, BASE64_CHARACTERS) else raw.decode("ascii")


@functools.lru_cache(maxsize=8)
def _stdin(text: str) -> bytes:
    """A Send's stream as bytes (``base64.b64decode``), decoded once for every host that is
    sent the same: a fleet's hosts are each sent the same collector script, whose 40 kB of
    base64 cost the lab more CPU to decode than to parse."""
    return base64.b64decode(text)


def _text(element: ET.Element | None) -> str:
    return (element.text or "") if element is not None else ""


@functools.cache
def _expanded(path: str) -> str:
    """``w:SelectorSet/w:Selector`` as ElementTree's own ``{namespace}name`` path. Given the
    prefixes' map instead, ElementTree sorts the map on every call to look up the path it
    compiled, which cost the lab as much as parsing the request; a simple name expanded so
    is even found by its C code directly."""
    return "/".join(f"{{{NS[prefix]}}}{name}" for prefix, _, name in (step.partition(":") for step in path.split("/")))


def _duration(value: str) -> float:
    match = re.fullmatch(r"PT([\d.]+)S", value.strip())
    return float(match.group(1)) if match else 20.0


ATTRIBUTE_ESCAPES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}
PREFIXED_TAG = re.compile(r"<(\w+):")


def _element(name: str, content: str = "", attributes: dict[str, str] | None = None) -> str:
    """One element as ElementTree writes it (``<p:Name a="v" />`` when empty); ``content`` is
    XML already. Replies are built as text: ElementTree's serialiser cost the lab more CPU per
    collected host than anything but the directory."""
    listed = "".join(f' {key}="{escape(value, ATTRIBUTE_ESCAPES)}"' for key, value in (attributes or {}).items())
    return f"<{name}{listed}>{content}</{name}>" if content else f"<{name}{listed} />"


def _tag_prefixes(body: str) -> set[str]:
    """The prefixes ``PREFIXED_TAG.findall(body)`` finds, each ``<`` found by ``str.find``:
    the regular expression engine steps through a Receive's 45 kB of base64 a character at a
    time, looking for the next ``<``, which cost the lab more CPU than building the reply. A
    match holds no other ``<``, so matching at each ``<`` in turn finds what findall finds."""
    found = set()
    at = body.find("<")
    while at >= 0:
        tag = PREFIXED_TAG.match(body, at)
        if tag is not None:
            found.add(tag.group(1))
        at = body.find("<", at + 1)
    return found


def _envelope(action: str, relates_to: str, body: str = "") -> bytes:
    """The SOAP reply around ``body``, each namespace it uses declared on the envelope, in
    prefix order, as ElementTree declares them."""
    used = sorted({"a", "s", *_tag_prefixes(body)})
    declared = "".join(f' xmlns:{prefix}="{NS[prefix]}"' for prefix in used)
    header = (
        _element("a:Action", escape(action))
        + _element("a:MessageID", f"uuid:{str(uuid.uuid4()).upper()}")
        + _element("a:To", "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous")
        + _element("a:RelatesTo", escape(relates_to))
    )
    body_element = _element("s:Body", body)
    return f'<s:Envelope{declared} xml:lang="en-US"><s:Header>{header}</s:Header>{body_element}</s:Envelope>'.encode()


def _fault(fault: WsmanFault, relates_to: str, machine: str) -> bytes:
    reason = escape(fault.reason)
    code = _element("s:Value", fault.soap_code) + _element("s:Subcode", _element("s:Value", escape(fault.subcode)))
    detail = _element("f:WSManFault", _element("f:Message", reason), {"Code": str(fault.code), "Machine": machine})
    body = _element(
        "s:Fault",
        _element("s:Code", code)
        + _element("s:Reason", _element("s:Text", reason, {"xml:lang": "en-US"}))
        + _element("s:Detail", detail),
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class SharedListener:
    """One listener serving many simulated hosts, each at ``/<HOST>/wsman``: a lab of
    hundreds of hosts needs one socket and one accept loop, not hundreds. Each host keeps
    its own shells, authentication and statistics, exactly as with its own listener."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.servers: dict[str, WsmanServer] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        handler = type("SharedHandler", (_SharedHandler,), {"listener": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.request_queue_size = 128
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="wsman-shared", daemon=True)
        self._thread.start()

    def add(self, server: WsmanServer) -> str:
        """Serve ``server`` here; returns its URL."""
        assert self._httpd is not None, "start the listener first"
        scheme = "https" if self.tls else "http"
        server.shared_url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}/{server.host_name}/wsman"
        self.servers[server.host_name.casefold()] = server
        return server.shared_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for server in self.servers.values():
            server.stop()


HEADER_BLOCK = re.compile(rb"(?:[!-9;-~]+:[\t -~]*\r\n)*\r\n")
"""A header block nothing in the email package's parsing changes, to its blank line: each line
a name of visible characters, a value of printable ASCII, CRLF. Folded, empty-named or other
lines are left to http.server."""
MAX_HEADERS = 100
"""http.client's limit: with the blank line, more lines than this is "Too many headers"."""


class _Handler(BaseHTTPRequestHandler):
    """One instance per TCP connection: NTLM authentication is bound to the connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 18
    """A reply's status line, headers and body leave in one write when the handler is done
    (http.server flushes then), not in two: a system call and a wake-up of the client fewer
    per exchange. The largest reply, a Receive of RECEIVE_OUTPUT_LIMIT bytes of output in
    base64 and sealed, fits; a larger one would only be written in parts."""
    server_ref: WsmanServer
    raw_requestline: bytes
    fields: dict[str, Any]
    """Each header of the request by its name in lower case, the first of a name as
    ``headers.get`` gives it: looked up in a dict, not by the email package's walk of every
    header, lowering each name, for each look-up."""

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None
        self.sealing: Any = None
        """The connection's NTLM session once authenticated (:meth:`NtlmSealing.of`)."""
        self.authenticated = False

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def parse_request(self) -> bool:
        """The request line and headers as http.server parses them, read more cheaply when the
        request is the plain HTTP/1.1 a WinRM client sends. http.server hands every header
        block to the email package, which cost the lab more CPU per exchange than NTLM's
        sealing; a plain block (a ``HEADER_BLOCK``, all of it already received, matched and split
        at once) gives the same fields here, stored as the email package stores them. Anything else
        (another version, a folded, odd or not yet received header, ``Expect``) is left
        unread, to http.server's own parsing and its error replies."""
        request_line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = request_line.split()
        if len(words) != 3 or words[2] != "HTTP/1.1" or words[1].startswith("//"):
            return self._parsed_by_http_server()
        if not isinstance(self.rfile, io.BufferedReader):
            return self._parsed_by_http_server()
        block = self.rfile.peek()
        found = HEADER_BLOCK.match(block)
        if found is None:
            return self._parsed_by_http_server()
        lines = block[: found.end() - 2].decode("iso-8859-1").split("\r\n")[:-1]
        if len(lines) >= MAX_HEADERS:
            return self._parsed_by_http_server()
        headers = self.MessageClass()
        fields: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            value = value.lstrip(" \t")
            headers.set_raw(name, value)
            fields.setdefault(name.lower(), value)
        if "expect" in fields:
            return self._parsed_by_http_server()
        self.rfile.read(found.end())
        self.command, self.path, self.request_version = words
        self.requestline, self.headers, self.fields = request_line, headers, fields
        self.close_connection = fields.get("connection", "").lower() == "close"
        return True

    def _parsed_by_http_server(self) -> bool:
        """http.server's own parsing, with :attr:`fields` taken from the headers it read."""
        if not super().parse_request():
            return False
        self.fields = {}
        for name, value in self.headers.items():
            self.fields.setdefault(name.lower(), value)
        return True

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """The reply as http.server's send_response, send_header and end_headers write it (the
        status line, Server, Date, ``headers``, Content-Length), built in one string: those
        calls, and the email package formatting a Date for each, cost the lab more CPU per
        exchange than sealing the reply. The Date is formatted by http.server once a second."""
        lines = [
            f"{self.protocol_version} {status} {self.responses[status][0]}",
            f"Server: {self.version_string()}",
            f"Date: {self._date()}",
            *(f"{key}: {value}" for key, value in (headers or {}).items()),
            f"Content-Length: {len(body)}",
        ]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.wfile.write(body)

    _second: ClassVar[tuple[int, str]] = (-1, "")
    """The last second a Date was formatted for, and its text."""

    def _date(self) -> str:
        second = int(time.time())
        if _Handler._second[0] != second:
            _Handler._second = (second, self.date_time_string(second))
        return _Handler._second[1]

    def do_POST(self) -> None:
        lab = self.server_ref
        length = int(self.fields.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        with lab.lock:
            lab.stats.http_requests += 1
        if lab.options.latency:
            time.sleep(lab.options.latency)
        if self.path.rstrip("/") != "/wsman":
            self._reply(404)
            return
        if not self._authenticate():
            return
        encrypted = self.fields.get("content-type", "").startswith("multipart/encrypted")
        if not body:
            self._reply(200)
            return
        if len(body) > lab.options.max_envelope:
            self._respond_fault(
                WsmanFault(
                    2150859025,
                    "w:EncodingLimit",
                    "The WS-Management service cannot process the request because the request size exceeded the configured MaxEnvelopeSize quota.",
                ),
                "",
                encrypted,
            )
            return
        if encrypted:
            try:
                body = self._decrypt(body)
            except Exception:  # sealed under a context this connection does not have: Windows answers 400
                self.ntlm, self.sealing, self.authenticated, self.close_connection = None, None, False, True
                self._reply(400)
                return
        elif self.ntlm is not None and not lab.options.allow_unencrypted and lab.options.tls is None:
            # Like Windows: AllowUnencrypted governs HTTP; over HTTPS, TLS protects the message.
            self._reply(500)
            return
        self._dispatch(body, encrypted)

    def _authenticate(self) -> bool:
        lab = self.server_ref
        header = self.fields.get("authorization", "")
        if self.authenticated and not header:
            return True
        if lab.options.auth == "basic":
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode("utf-8", "replace").partition(":")
                if lab.options.basic_users.get(user.casefold()) == password:
                    return True
                with lab.lock:
                    lab.stats.failed_logons += 1
            self._reply(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return False
        scheme, _, token_b64 = header.partition(" ")
        if scheme not in ("Negotiate", "NTLM") or not token_b64:
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        token = base64.b64decode(token_b64)
        try:
            if len(token) > 8 and token[8] == 1:
                # A new handshake on the connection: until it ends accepted, nothing is.
                self.authenticated = False
                self.ntlm, self.sealing = spnego.server(protocol="ntlm"), None
                challenge = self.ntlm.step(token)
                self._reply(401, headers={"WWW-Authenticate": f"Negotiate {base64.b64encode(challenge).decode()}"})
                return False
            if self.ntlm is None:
                raise ValueError("AUTHENTICATE before NEGOTIATE")
            self.ntlm.step(token)
            self.sealing = NtlmSealing.of(self.ntlm)
        except Exception:
            if self.ntlm is not None:
                with lab.lock:
                    lab.stats.failed_logons += 1  # what Windows counts towards an account lockout
            self.ntlm = self.sealing = None
            self.authenticated = False  # a refused logon leaves the connection unauthenticated, as on Windows
            self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
            return False
        self.authenticated = True
        return True

    def _decrypt(self, body: bytes) -> bytes:
        match = re.search(rb"Length=(\d+)\r\n", body)
        marker = b"\tContent-Type: application/octet-stream\r\n"
        start = body.index(marker) + len(marker)
        (signature_length,) = struct.unpack("<I", body[start : start + 4])
        signature = body[start + 4 : start + 4 + signature_length]
        length = int(match.group(1)) if match else 0
        sealed = body[start + 4 + signature_length : start + 4 + signature_length + length]
        return bytes(self.sealing.unwrap_winrm(signature, sealed))

    def _encrypt(self, message: bytes) -> bytes:
        wrapped = self.sealing.wrap_winrm(message)
        return b"".join(
            (
                BOUNDARY,
                b"\r\n",
                f"\tContent-Type: {ENCRYPTED_PROTOCOL}\r\n".encode(),
                f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message)}\r\n".encode(),
                BOUNDARY,
                b"\r\n",
                b"\tContent-Type: application/octet-stream\r\n",
                struct.pack("<I", len(wrapped.header)),
                wrapped.header,
                wrapped.data,
                BOUNDARY,
                b"--\r\n",
            )
        )

    def _send_soap(self, status: int, xml: bytes, encrypted: bool) -> None:
        if encrypted:
            content_type = f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";boundary="Encrypted Boundary"'
            self._reply(status, self._encrypt(xml), {"Content-Type": content_type})
        else:
            self._reply(status, xml, {"Content-Type": "application/soap+xml;charset=UTF-8"})

    def _respond_fault(self, fault: WsmanFault, relates_to: str, encrypted: bool) -> None:
        self._send_soap(500, _fault(fault, relates_to, self.server_ref.host_name), encrypted)

    def _dispatch(self, body: bytes, encrypted: bool) -> None:
        lab = self.server_ref
        try:
            root = request_tree(body)
        except ET.ParseError:
            self._reply(400)
            return
        header = root.find(_expanded("s:Header"))
        action = _text(header.find(_expanded("a:Action")) if header is not None else None)
        message_id = _text(header.find(_expanded("a:MessageID")) if header is not None else None)
        timeout = _duration(_text(header.find(_expanded("w:OperationTimeout")) if header is not None else None))
        shell_id = None
        options: dict[str, str] = {}
        if header is not None:
            for selector in header.iterfind(_expanded("w:SelectorSet/w:Selector")):
                if selector.get("Name") == "ShellId":
                    shell_id = selector.text
            for option in header.iterfind(_expanded("w:OptionSet/w:Option")):
                options[option.get("Name", "")] = option.text or ""
        request_body = root.find(_expanded("s:Body"))
        with lab.lock:
            lab.stats.actions.append(action.rsplit("/", 1)[-1])
        handlers: dict[str, Callable[[], str]] = {
            ACTION_CREATE: lambda: self._create(options),
            ACTION_COMMAND: lambda: self._command(shell_id, request_body),
            ACTION_SEND: lambda: self._send(shell_id, request_body, timeout),
            ACTION_RECEIVE: lambda: self._receive(shell_id, request_body, timeout),
            ACTION_SIGNAL: lambda: self._signal(shell_id, request_body),
            ACTION_DELETE: lambda: self._delete(shell_id),
        }
        handler = handlers.get(action)
        if handler is None:
            self._respond_fault(
                WsmanFault(2150858771, "w:ActionNotSupported", f"The action {action} is not supported."),
                message_id,
                encrypted,
            )
            return
        try:
            response = handler()
        except ConnectionDropped:
            self.close_connection = True
            return
        except WsmanFault as fault:
            self._respond_fault(fault, message_id, encrypted)
            return
        self._send_soap(200, _envelope(action + "Response", message_id, response), encrypted)

    def _create(self, options: dict[str, str]) -> str:
        shell_id = self.server_ref.create(options)
        selector = _element("w:Selector", shell_id, {"Name": "ShellId"})
        parameters = _element("w:ResourceURI", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd")
        parameters += _element("w:SelectorSet", selector)
        return _element(
            "x:ResourceCreated",
            _element("a:Address", escape(self.server_ref.url)) + _element("a:ReferenceParameters", parameters),
        )

    def _command(self, shell_id: str | None, body: ET.Element | None) -> str:
        line = body.find(_expanded("rsp:CommandLine")) if body is not None else None
        command = _text(line.find(_expanded("rsp:Command")) if line is not None else None)
        arguments = [_text(a) for a in line.iterfind(_expanded("rsp:Arguments"))] if line is not None else []
        command_id = self.server_ref.command(shell_id, " ".join([command.strip('"'), *arguments]))
        return _element("rsp:CommandResponse", _element("rsp:CommandId", command_id))

    def _send(self, shell_id: str | None, body: ET.Element | None, timeout: float) -> str:
        stream = body.find(_expanded("rsp:Send/rsp:Stream")) if body is not None else None
        if stream is None:
            raise WsmanFault(2150858817, "w:SchemaValidationError", "Send without a stream.")
        data = _stdin(stream.text or "")
        self.server_ref.send(
            shell_id, stream.get("CommandId", ""), data, stream.get("End", "").lower() == "true", timeout
        )
        return _element("rsp:SendResponse")

    def _receive(self, shell_id: str | None, body: ET.Element | None, timeout: float) -> str:
        desired = body.find(_expanded("rsp:Receive/rsp:DesiredStream")) if body is not None else None
        command_id = desired.get("CommandId", "") if desired is not None else ""
        streams, exit_code = self.server_ref.receive(shell_id, command_id, timeout)
        parts = [
            _element("rsp:Stream", base64.b64encode(data).decode(), {"Name": name, "CommandId": command_id})
            for name, data in streams
        ]
        if exit_code is None:
            parts.append(_element("rsp:CommandState", "", {"CommandId": command_id, "State": STATE_RUNNING}))
        else:
            for name in ("stdout", "stderr"):
                parts.append(_element("rsp:Stream", "", {"Name": name, "CommandId": command_id, "End": "true"}))
            exit_element = _element("rsp:ExitCode", str(exit_code))
            parts.append(_element("rsp:CommandState", exit_element, {"CommandId": command_id, "State": STATE_DONE}))
        return _element("rsp:ReceiveResponse", "".join(parts))

    def _signal(self, shell_id: str | None, body: ET.Element | None) -> str:
        signal = body.find(_expanded("rsp:Signal")) if body is not None else None
        self.server_ref.signal(shell_id, signal.get("CommandId", "") if signal is not None else "")
        return _element("rsp:SignalResponse")

    def _delete(self, shell_id: str | None) -> str:
        self.server_ref.delete(shell_id)
        return ""


class _SharedHandler(_Handler):
    """Picks the host from the first path segment, then answers as that host's listener."""

    listener: SharedListener

    def do_POST(self) -> None:
        host, _, rest = self.path.lstrip("/").partition("/")
        server = self.listener.servers.get(host.casefold())
        if server is None:
            self._reply(404)
            return
        self.server_ref = server
        self.path = "/" + rest
        super().do_POST()
