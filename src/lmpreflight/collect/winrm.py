"""Running the collector on one host over WinRM: one shell, one PowerShell process.

pywinrm's convenient ``run_ps`` is not used: it fails silently past ~3,000 characters,
leaks the shell when a step raises, decodes output as cp437, and its output loop retries
operation timeouts forever. Here the shell is opened with code page 65001, the script
travels as UTF-8 bytes on stdin behind a short bootstrap, every Receive is bounded by the
host's deadline, and the command and shell are always closed in ``finally``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import os
import queue
import re
import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from xml.sax.saxutils import escape, quoteattr

import requests
from requests_ntlm import HttpNtlmAuth
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from urllib3 import HTTPConnectionPool
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from lmpreflight.collect.recording import Transcript
from lmpreflight.collect.script import LANGUAGE_MODE_MARKER, StageTwoRequest, bootstrap_arguments, stdin_payload

SEND_CHUNK = 150_000
"""Bytes of stdin per Send: with base64 and the envelope, well under the 500 KB MaxEnvelopeSize."""
STAGE_ONE_MARKER = b'{"lmpreflight_collector"'
OPERATION_TIMEOUT = 5
"""Seconds a Receive may wait on the host; short, so the tool's own deadline stays precise."""
SEND_OPERATION_TIMEOUT = 30
"""Seconds a Send may take on the host: a loaded host can be slow to accept input."""
MAX_OUTPUT = 64 * 1024 * 1024
"""Bytes of stdout plus stderr a host may send; the collector's document is a few hundred KB."""
BUSY_RETRIES = 3
"""Sends retried after a timeout or ERROR_BUSY, as Ansible's WinRM plugin does for Send."""
ERROR_BUSY = 170
CLOSE_BUDGET = 5.0
"""Seconds the closing exchanges (Signal, Delete) may take in all once the work is done or
failed, the host's deadline passed or not: a shell never deleted lives on the host until its
IdleTimeout and counts towards MaxShellsPerUser (30 by default), past which the host refuses
every new shell of the user with wsman:QuotaLimit (MS-WSMV 3.1.4.5.2.1)."""
CANCELLED_CLOSE_BUDGET = 1.0
"""The same once Ctrl-C is noticed: the run must still end within a second or two."""

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
T = TypeVar("T")


def _protocol(connection: Connection) -> Protocol:
    password = connection.password
    if connection.transport == "ntlm" and password is not None:
        password = ntlm_hashes(password)
    options: dict[str, Any] = {
        "transport": "plaintext" if connection.transport == "basic" else connection.transport,
        "username": connection.username,
        "password": password,
        "server_cert_validation": "validate" if connection.verify else "ignore",
        "ca_trust_path": connection.ca_cert,
        "read_timeout_sec": OPERATION_TIMEOUT + 10,
        "operation_timeout_sec": OPERATION_TIMEOUT,
        "proxy": None,
    }
    if connection.transport == "certificate":
        options.update(cert_pem=connection.cert_pem, cert_key_pem=connection.cert_key_pem, username=None, password=None)
    protocol = _Protocol(connection.endpoint, **options)
    _refuse_redirects(protocol)
    _build_session_alone(protocol)
    return protocol


class _Variables(tuple[tuple[str, str], ...]):
    """A shell's environment variables as a mapping that can key a cached template: pywinrm
    asks the mapping only whether it is empty, and for its ``items()``."""

    def items(self) -> _Variables:
        return self


class _Protocol(Protocol):
    """pywinrm's Protocol, writing each message as pywinrm writes it, without the cost.

    pywinrm builds every message as a dict and serialises it through ``xmltodict.unparse``,
    a SAX generator that validates each name: about 0.7 ms of CPU a message, five messages a
    host. Two messages of one operation differ only in their MessageID, OperationTimeout,
    ShellId, CommandId and stdin, so each operation's message is written once by pywinrm
    itself with stand-ins for those (:func:`_template`), and each message fills in its own,
    escaped by the functions pywinrm's serialiser escapes them with: the same characters.
    What the tool passes (the command line, the shell's options) is written by pywinrm into
    the template. The replies are read as pywinrm reads them."""

    def _message(self, operation: str, arguments: tuple[Hashable, ...], message_id: uuid.UUID, **values: str) -> str:
        """What pywinrm's ``operation`` sends when called with ``arguments``, with ``values``
        (and this message's id and timeout) where :func:`_field` marks their places."""
        values.update(message=str(message_id), timeout=str(int(self.operation_timeout_sec)))
        parts = _template(operation, arguments)
        written = [parts[0] or ""]
        for at in range(1, len(parts), 3):
            attribute, text = parts[at], parts[at + 1]
            written.append("=" + quoteattr(values[attribute]) if attribute else escape(values[text or ""]))
            written.append(parts[at + 2] or "")
        return "".join(written)

    def open_shell(
        self,
        i_stream: str = "stdin",
        o_stream: str = "stdout stderr",
        working_directory: str | None = None,
        env_vars: dict[str, str] | None = None,
        noprofile: bool = False,
        codepage: int = 437,
        lifetime: None = None,
        idle_timeout: str | int | None = None,
    ) -> str:
        variables = _Variables((env_vars or {}).items())
        arguments = (i_stream, o_stream, working_directory, variables, noprofile, codepage, lifetime, idle_timeout)
        root = ET.fromstring(self.send_message(self._message("open_shell", arguments, uuid.uuid4())))
        return cast(str, next(node for node in root.findall(".//*") if node.get("Name") == "ShellId").text)

    def run_command(
        self,
        shell_id: str,
        command: str,
        arguments: Iterable[str | bytes] = (),
        console_mode_stdin: bool = True,
        skip_cmd_shell: bool = False,
    ) -> str:
        # pywinrm joins the arguments when there are any (a generator always counts as some).
        line = (" ".join(a if isinstance(a, str) else a.decode("utf-8") for a in arguments),) if arguments else ()
        shape = (_field_if("shell", shell_id), command, line, console_mode_stdin, skip_cmd_shell)
        root = ET.fromstring(self.send_message(self._message("run_command", shape, uuid.uuid4(), shell=shell_id)))
        return cast(str, next(node for node in root.findall(".//*") if node.tag.endswith("CommandId")).text)

    def send_command_input(self, shell_id: str, command_id: str, stdin_input: str | bytes, end: bool = False) -> None:
        data = stdin_input.encode("437") if isinstance(stdin_input, str) else stdin_input
        shape = (_field_if("shell", shell_id), _field("command"), _PROBE_STDIN, bool(end))
        stdin = base64.b64encode(data).decode("ascii")
        self.send_message(
            self._message("send_command_input", shape, uuid.uuid4(), shell=shell_id, command=command_id, stdin=stdin)
        )

    def get_command_output_raw(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int, bool]:
        shape = (_field_if("shell", shell_id), _field("command"))
        message = self._message("get_command_output_raw", shape, uuid.uuid4(), shell=shell_id, command=command_id)
        return _received(ET.fromstring(self.send_message(message)))

    def cleanup_command(self, shell_id: str, command_id: str) -> None:
        message_id = uuid.uuid4()
        shape = (_field_if("shell", shell_id), _field("command"))
        message = self._message("cleanup_command", shape, message_id, shell=shell_id, command=command_id)
        _check_relates_to(ET.fromstring(self.send_message(message)), message_id)

    def close_shell(self, shell_id: str, close_session: bool = True) -> None:
        try:
            message_id = uuid.uuid4()
            message = self._message("close_shell", (_field_if("shell", shell_id), False), message_id, shell=shell_id)
            root = ET.fromstring(self.send_message(message))
        finally:
            # Closing the transport, as pywinrm does: no connection lingers in a pool.
            if close_session:
                self.transport.close_session()
        _check_relates_to(root, message_id)


def _received(root: ET.Element) -> tuple[bytes, bytes, int, bool]:
    """A Receive reply read as pywinrm reads it (its stdout, stderr, exit code and whether
    the command is done), walking its elements once instead of three times."""
    nodes = root.findall(".//*")
    stdout, stderr = [], []
    for node in nodes:
        if node.tag.endswith("Stream") and node.text:
            if node.attrib["Name"] == "stdout":
                stdout.append(base64.b64decode(node.text.encode("ascii")))
            elif node.attrib["Name"] == "stderr":
                stderr.append(base64.b64decode(node.text.encode("ascii")))
    done = len([node for node in nodes if node.get("State", "").endswith("CommandState/Done")]) == 1
    code = int(next(node for node in nodes if node.tag.endswith("ExitCode")).text or -1) if done else -1
    return b"".join(stdout), b"".join(stderr), code, done


def _check_relates_to(root: ET.Element, message_id: uuid.UUID) -> None:
    """pywinrm's check that a Signal's or Delete's reply answers it."""
    relates_to = cast(str, next(node for node in root.findall(".//*") if node.tag.endswith("RelatesTo")).text)
    assert uuid.UUID(relates_to.replace("uuid:", "")) == message_id


_STAND_IN = secrets.token_hex(8)
"""Part of every stand-in, drawn once a run: a value the tool writes into a template itself
(a working directory, say) cannot pass for a stand-in."""


def _field(name: str) -> str:
    """The stand-in for a message's value ``name`` in a template: a word in private-use
    characters, which pywinrm's serialiser writes through unchanged."""
    return f"\ue000{name}-{_STAND_IN}\ue001"


def _field_if(name: str, value: str) -> str:
    """The stand-in for a ShellId that pywinrm writes, or the value itself when pywinrm
    leaves it out (an empty one), so that the template leaves it out too."""
    return _field(name) if value else value


_FIELDS = re.compile(f'="\ue000(\\w+)-{_STAND_IN}\ue001"|\ue000(\\w+)-{_STAND_IN}\ue001')
"""A stand-in in a template: as an attribute's value (quoted) or as an element's text."""
_PROBE_TIMEOUT = 10**15 + secrets.randbelow(10**15)
_PROBE_STDIN = secrets.token_bytes(12)
_PROBE_STDIN_TEXT = base64.b64encode(_PROBE_STDIN).decode("ascii")
"""Stand-ins for what pywinrm does not write through unchanged: the operation timeout (an
integer) and stdin (bytes it encodes in base64), recognised by what pywinrm makes of them.
Drawn once a run, as ``_STAND_IN`` is, so that no value written into a template (a command
line, say) can contain one."""


class _Probe(Protocol):
    """pywinrm's Protocol keeping the message it writes instead of sending it."""

    written = ""

    def __init__(self) -> None:
        super().__init__("http://probe/wsman", username="probe", password="probe")
        self.operation_timeout_sec = _PROBE_TIMEOUT

    def build_wsman_header(
        self, action: str, resource_uri: str, shell_id: str | None = None, message_id: str | uuid.UUID | None = None
    ) -> dict[str, Any]:
        return super().build_wsman_header(action, resource_uri, shell_id, _field("message"))

    def send_message(self, message: str) -> bytes:
        self.written = message
        raise _Written()


class _Written(Exception):
    """Ends a probed operation once its message is written."""


@functools.lru_cache(maxsize=32)
def _template(operation: str, arguments: tuple[Hashable, ...]) -> list[str | None]:
    """pywinrm's message for ``operation`` called with ``arguments``, split around its
    stand-ins: a literal, then for each stand-in its name as an attribute's value or as
    text, and the literal after it."""
    probe = _Probe()
    with contextlib.suppress(_Written):
        getattr(Protocol, operation)(probe, *arguments)
    text = probe.written.replace(f"PT{_PROBE_TIMEOUT}S", f"PT{_field('timeout')}S")
    return _FIELDS.split(text.replace(_PROBE_STDIN_TEXT, _field("stdin")))


_ENVIRONMENT_IN_USE = threading.Lock()
"""Held while pywinrm builds a session: requests works out whether to bypass proxies by
setting ``os.environ['no_proxy']`` and deleting it afterwards (``requests.utils.set_environ``),
which is not thread-safe (github.com/psf/requests/issues/4997). Two hosts building their
sessions at once can both set it and the second delete raises ``KeyError: 'no_proxy'``,
failing that host's collection."""


def _build_session_alone(protocol: Protocol) -> None:
    """pywinrm builds a host's session on its first message, reading the environment's proxy
    settings, then sets up message encryption with an NTLM handshake in the same call. Only
    the first part runs under :data:`_ENVIRONMENT_IN_USE`: the handshake (exchanges with the
    host) runs after it, so hosts still log on in parallel."""
    transport = protocol.transport
    build = transport.build_session
    set_up_encryption = transport.setup_encryption

    def build_alone() -> requests.Session:
        if transport.session:
            return transport.session
        deferred: list[requests.Session] = []
        setattr(transport, "setup_encryption", deferred.append)  # noqa: B010 (for this call only)
        try:
            with _ENVIRONMENT_IN_USE:
                before = requests.Session.merge_environment_settings  # put back as found, whoever set it
                setattr(requests.Session, "merge_environment_settings", _merge_once_a_run)  # noqa: B010
                try:
                    session = build()
                finally:
                    setattr(requests.Session, "merge_environment_settings", before)  # noqa: B010
        finally:
            setattr(transport, "setup_encryption", set_up_encryption)  # noqa: B010
        for pending in deferred:
            set_up_encryption(pending)
        return session

    setattr(transport, "build_session", build_alone)  # noqa: B010 (an instance override)


_merge_in_full = requests.Session.merge_environment_settings
_MERGED: dict[tuple[str | None, str | None], dict[str, Any]] = {}
"""requests' answer for pywinrm's session, by the two variables it depends on (under
:data:`_ENVIRONMENT_IN_USE`)."""


def _merge_once_a_run(
    session: requests.Session,
    url: str,
    proxies: dict[str, str] | None,
    stream: bool | None,
    verify: bool | str | None,
    cert: str | tuple[str, str] | None,
) -> dict[str, Any]:
    """requests' ``merge_environment_settings`` for the session pywinrm builds, worked out
    once a run instead of once a host: requests reads and evaluates every proxy variable of
    the environment against the host's name (about 770,000 instructions a host), setting and
    deleting ``os.environ['no_proxy']`` on the way.

    pywinrm passes ``no_proxy: *`` (the tool never uses a proxy), which makes requests bypass
    every proxy for every host, whatever HTTP_PROXY, NO_PROXY or ALL_PROXY say: its answer
    then differs between hosts only by the CA bundle named in REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE, so it is kept per those two. Any other call (another proxy setting, a
    session not fresh) gets requests' full work. Each caller gets its own copy of the
    proxies, which the session keeps."""
    fresh = session.trust_env and not session.proxies and session.stream is False and session.verify is True
    if not (fresh and session.cert is None and proxies == {"no_proxy": "*"} and (stream, verify, cert) == (None,) * 3):
        return _merge_in_full(session, url, proxies, stream, verify, cert)
    key = (os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("CURL_CA_BUNDLE"))
    settings = _MERGED.get(key)
    if settings is None:
        settings = _MERGED[key] = _merge_in_full(session, url, dict(proxies), stream, verify, cert)
    return {name: copy.copy(value) for name, value in settings.items()}


def ntlm_hashes(password: str) -> str:
    """The password's LM and NT hashes as ``LM:NT``, the form in which pyspnego takes an NTLM
    credential without deriving the hashes again. pyspnego derives them for every NTLM
    context, one per host, and its LM hash is pure-Python DES (milliseconds a host in a
    fleet); a run uses one password, so they are derived once, by pyspnego's own functions,
    while the hosts that start together wait for that one derivation. NTLM needs nothing
    else from the password; the other transports get it unchanged (CredSSP hands the
    password itself to the host). The hashes are as secret as the password: like it, they
    go only to pywinrm and to the directory bind's pyspnego context (not on Windows, where
    the bind goes through SSPI with the password), never into a message, log or error."""
    with _DERIVING:
        return _derive_ntlm_hashes(password)


_DERIVING = threading.Lock()


@functools.lru_cache(maxsize=1)
def _derive_ntlm_hashes(password: str) -> str:
    return f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"


def _refuse_redirects(protocol: Protocol) -> None:
    """A WinRM listener never redirects; following one would hand the credentials (a full
    NTLM exchange) to whatever host the Location names. requests raises TooManyRedirects at
    the first redirect when a session allows none.

    The session also stops consulting the environment on every exchange: pywinrm has already
    merged what it needs (the CA bundle, and ``no_proxy: *``, since no proxy is ever used)
    when it built the session, but requests would still read the proxy variables and
    evaluate them against the URL for each of a host's dozen exchanges. And it prepares each
    message as a copy of its first one (:func:`_prepare_as_first`) and finds its connection
    pool and the URL it asks for once (:class:`_EndpointAdapter`)."""
    transport = protocol.transport
    send = transport._send_message_request

    def without_redirects(session: requests.Session, prepared: requests.PreparedRequest) -> requests.Response:
        session.max_redirects = 0
        session.trust_env = False
        if "prepare_request" not in vars(session):  # its first exchange
            _prepare_as_first(session)
            _one_pool_per_endpoint(session)
        return send(session, prepared)

    setattr(transport, "_send_message_request", without_redirects)  # noqa: B010 (an instance override)


_SAME_EVERY_TIME = (HttpNtlmAuth, requests.auth.HTTPBasicAuth, type(None))
"""Authentications that do the same to every request: NTLM adds its keep-alive header and
response hook (the connection, not the request, is authenticated), Basic the same
Authorization header. Kerberos and CredSSP change theirs as their context proceeds."""


def _prepare_as_first(session: requests.Session) -> None:
    """pywinrm hands every message to ``session.prepare_request`` as a new POST of bytes to
    the same URL, and requests merges the session's headers, cookies, hooks and
    authentication into it anew each time: a third of the CPU of an exchange. Once a session
    has prepared one such POST, the next ones are copies of it with their own body, which is
    what a full preparation makes of them while the session holds no cookie (the listener
    sets none) nor hook and authenticates every request alike (``_SAME_EVERY_TIME``), and the
    body is not empty; anything else is prepared in full."""
    prepare_in_full = session.prepare_request
    first: list[tuple[str | bytes | None, requests.PreparedRequest]] = []

    def prepare(request: requests.Request) -> requests.PreparedRequest:
        alike = (
            request.method == "POST"
            and isinstance(request.data, bytes)
            and request.data  # an empty body gets no Content-Length of a copied one's
            and not (request.headers or request.files or request.params or request.auth or request.cookies)
            and request.json is None
            and not any(request.hooks.values())
            and not any(session.hooks.values())
            and isinstance(session.auth, _SAME_EVERY_TIME)
            and not session.cookies
        )
        if alike and first and first[0][0] == request.url:
            copy = first[0][1].copy()
            copy.prepare_body(request.data, None)
            return copy
        prepared = prepare_in_full(request)
        if alike and not first:
            first.append((request.url, prepared.copy()))
        return prepared

    setattr(session, "prepare_request", prepare)  # noqa: B010 (an instance override)


class _EndpointAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, finding the connection pool of a request and the URL it asks the pool
    for once for its URL, TLS and proxy settings instead of on every request (building urllib3's
    pool key costs about a tenth of an exchange's CPU, parsing the URL again for the path about
    48,000 instructions): a WinRM session sends every message to the one endpoint, over the one
    connection NTLM authenticated. Both are requests' own, so are what requests would find."""

    def __init__(self, like: requests.adapters.HTTPAdapter) -> None:
        super().__init__(like._pool_connections, like._pool_maxsize, like.max_retries, like._pool_block)
        self._pools: dict[tuple[object, ...], HTTPConnectionPool] = {}
        self._urls: dict[tuple[object, ...], str] = {}

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        proxies: dict[str, str] | None = None,
        cert: str | tuple[str, str] | None = None,
    ) -> HTTPConnectionPool:
        key = (request.url, verify, cert, tuple(sorted((proxies or {}).items())))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: dict[str, str] | None) -> str:
        key = (request.url, tuple(sorted((proxies or {}).items())))
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = super().request_url(request, proxies)
        return url

    def close(self) -> None:
        self._pools.clear()
        self._urls.clear()
        super().close()


def _one_pool_per_endpoint(session: requests.Session) -> None:
    """Mount :class:`_EndpointAdapter` in place of requests' own adapters, before the session's
    first exchange (an adapter replaced later would drop the authenticated connection)."""
    for prefix, adapter in list(session.adapters.items()):
        if type(adapter) is requests.adapters.HTTPAdapter:
            session.mount(prefix, _EndpointAdapter(adapter))


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
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return CollectionFailed(
            f"{endpoint} answered with an HTTP redirect; a WinRM listener never redirects, so it was not followed",
            "check --endpoint and whatever proxy or load balancer answers on that address",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return CollectionFailed(
            f"TLS to {endpoint} failed: the host's certificate is not trusted or does not match its name",
            "pass --ca-cert FILE with the issuing CA (or --no-verify, not recommended)",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo" in text:
            return CollectionFailed(
                f"cannot resolve {host}: no DNS record; is the name right?",
                "check the spelling, or pass --endpoint NAME=URL",
            )
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
    stage_two: StageTwoFor | StageTwoRequest,
    deadline: float,
    cancel: threading.Event,
    on_progress: Callable[[str], None] = lambda stage: None,
    transcript: Transcript | None = None,
    on_logon: Callable[[], None] = lambda: None,
) -> tuple[StageOne, dict[str, Any]]:
    """Run the collector; return its stage-one document and its stage-two answer.
    ``stage_two`` is what to ask once stage one has arrived, or the request itself when it
    does not depend on stage one (a host without a peer): that goes on stdin behind the
    script, in the same Send, and the collector reads it from there when stage one is done,
    one exchange fewer. ``transcript`` receives the host's stdout and stderr as they arrive
    (``--record``). ``on_logon`` is called as soon as the host has accepted the credentials
    (its first exchange, which carries the authentication, opened the shell): whoever waits
    to know the password is right need not wait for the rest of the collection."""
    with _Exchanges(connection, deadline, cancel) as exchange:
        try:
            on_progress("connecting")
            protocol = _protocol(connection)
            shell = exchange.open_shell(lambda: protocol.open_shell(codepage=65001), protocol.close_shell)
        except (CollectionFailed, Cancelled):
            raise
        except BaseException as exc:
            raise describe(exc, connection) from None
        try:
            on_logon()
            command = exchange.run(
                lambda: protocol.run_command(shell, "powershell.exe", bootstrap_arguments(), console_mode_stdin=False)
            )
            ended = False
            try:
                on_progress("collecting")
                outcome = _converse(protocol, shell, command, exchange, script, stage_two, transcript)
                ended = True
                return outcome
            finally:
                # A command that has ended needs no Signal: deleting the shell frees all of its
                # resources (MS-WSMV 3.1.4.4.1), one exchange fewer. One still running after a
                # failure is terminated by a Signal first; after a timeout or Ctrl-C the session
                # is stuck in the abandoned exchange, so no Signal goes out: the Delete alone,
                # on a fresh session, ends the command with its shell.
                if not ended:
                    exchange.quietly(lambda: protocol.cleanup_command(shell, command))
        except (CollectionFailed, Cancelled):
            raise
        except BaseException as exc:
            raise describe(exc, connection) from None
        finally:
            _close_shell(protocol, shell, exchange)


class _Exchanges:
    """Every HTTP exchange with one host runs under the host's deadline as a whole: requests'
    read timeout restarts with each byte, so a host trickling one byte every few seconds
    would otherwise hold the run for ever. An exchange past the deadline is abandoned (its
    worker ends with the socket) and the host is reported as not finishing in time; Ctrl-C
    is noticed within a fraction of a second. The closing exchanges get a budget of their
    own instead (``CLOSE_BUDGET``, ``CANCELLED_CLOSE_BUDGET`` after Ctrl-C): the shell must
    be deleted even after the deadline.

    The exchanges are made in turn by one worker thread per host, not a thread each: a
    collection is several exchanges, and starting a thread for each costs more CPU than
    the sealing of its message. Use as a context manager, which lets the worker go."""

    def __init__(self, connection: Connection, deadline: float, cancel: threading.Event) -> None:
        self.connection = connection
        self.deadline = deadline
        self.cancel = cancel
        self.abandoned = False
        self._worker: _Worker | None = None
        self._closing_since: float | None = None
        self._cancelled_since: float | None = None

    def __enter__(self) -> _Exchanges:
        return self

    def __exit__(self, *exc: object) -> None:
        self._let_worker_go()

    def run(self, call: Callable[[], T], closing: bool = False, claim: _Claim | None = None) -> T:
        """``call``'s outcome, made by the worker; a ``closing`` exchange is bounded by the
        closing budget instead of the deadline, and Ctrl-C only shortens it. With ``claim``,
        an exchange given up while in flight leaves what it returns to the worker."""
        if self.cancel.is_set() and not closing:  # nothing new is sent after Ctrl-C
            raise Cancelled()
        if not closing and (self.abandoned or time.monotonic() > self.deadline):
            # Past the deadline nothing new goes out (a Create that returned just as its caller
            # gave up would otherwise be followed by a Command): only the closing exchanges.
            raise self.too_late()
        if closing:
            self.closing_end()  # the closing budget starts with the first closing exchange
        if self._worker is None:
            self._worker = _Worker(f"winrm-{self.connection.host}")
        worker = self._worker
        worker.submit(call)
        while True:
            try:
                returned, outcome = worker.outcomes.get(timeout=0.2)
            except queue.Empty:
                cancelled = self.cancel.is_set() and not closing
                if not cancelled and time.monotonic() <= (self.closing_end() if closing else self.deadline):
                    continue
                if claim is None or claim.give_up():
                    self._abandon()
                    if cancelled:
                        raise Cancelled() from None
                    raise self.too_late() from None
                returned, outcome = worker.outcomes.get()  # it returned just now: the caller takes it
            if not returned:
                raise outcome
            return cast(T, outcome)

    def open_shell(self, create: Callable[[], str], delete: Callable[[str], object]) -> str:
        """The shell ``create`` opens. A Create given up in flight (deadline, Ctrl-C) still
        makes its shell on the host: the worker deletes the shell it gets once its caller has
        given up, and the caller waits for that within the closing budget, so the Delete goes
        out before the run moves on or ends."""
        claim = _Claim()

        def create_or_delete() -> str:
            try:
                shell = create()
                if not claim.deliver():
                    delete(shell)
                return shell
            finally:
                claim.settled.set()

        try:
            return self.run(create_or_delete, claim=claim)
        except BaseException:
            while claim.given_up and not claim.settled.wait(0.05) and time.monotonic() < self.closing_end():
                pass
            raise

    def closing_end(self) -> float:
        """When closing must be over: ``CLOSE_BUDGET`` after it started, or
        ``CANCELLED_CLOSE_BUDGET`` after Ctrl-C was noticed, whichever comes first."""
        now = time.monotonic()
        self._closing_since = self._closing_since or now
        end = self._closing_since + CLOSE_BUDGET
        if self.cancel.is_set():
            self._cancelled_since = self._cancelled_since or now
            end = min(end, self._cancelled_since + CANCELLED_CLOSE_BUDGET)
        return end

    def _abandon(self) -> None:
        """The worker stays blocked in the abandoned exchange; later exchanges (the closing
        ones, with their own budget) get a fresh worker."""
        self.abandoned = True
        self._let_worker_go()

    def _let_worker_go(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def quietly(self, action: Callable[[], object]) -> bool:
        """Closing is best effort and short: a host that stopped answering must not hide the
        real error, nor hold the run."""
        if self.abandoned:
            return False
        try:
            self.run(action, closing=True)
        except BaseException:
            return False
        return True

    def too_late(self) -> CollectionFailed:
        return CollectionFailed(
            f"{self.connection.host} did not finish the collection in time",
            "the host may be overloaded or a cmdlet is hanging; raise --timeout or run the offline collector script",
        )


class _Claim:
    """Who owns what an exchange returns when its caller gives up while it is in flight: the
    caller if the exchange returned first, else the worker, which must undo it (delete the
    shell a Create made). One lock decides, so nothing falls between the two."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delivered = False
        self.given_up = False
        self.settled = threading.Event()
        """Set once the exchange has ended, and what it made was undone if given up."""

    def deliver(self) -> bool:
        """In the worker: whether the caller still takes the outcome."""
        with self._lock:
            self._delivered = not self.given_up
            return self._delivered

    def give_up(self) -> bool:
        """In the caller: whether it gave up (the outcome is not delivered yet)."""
        with self._lock:
            self.given_up = not self._delivered
            return self.given_up


class _Worker:
    """A daemon thread making the calls it is given in turn. Unlike a thread pool's workers,
    which the interpreter joins at exit, it cannot delay the exit after Ctrl-C while stuck on
    a silent socket.

    Each call's outcome goes back on a queue, in order: a ``Future`` per call, with its
    condition built, notified and waited on under its lock, cost about twice the CPU of
    this hand-off, made twice for each of a host's exchanges."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        """Whether each call returned, and what it returned or raised."""
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, call: Callable[[], Any]) -> None:
        self._calls.put(call)

    def stop(self) -> None:
        """End the thread once the calls given so far are made."""
        self._calls.put(None)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                self.outcomes.put((True, call()))
            except BaseException as exc:  # handed to the caller waiting for the outcome
                self.outcomes.put((False, exc))


def _close_shell(protocol: Protocol, shell: str, exchange: _Exchanges) -> None:
    """Close the shell; after a dropped connection, pywinrm cannot reuse its session (it
    re-sends messages sealed under the old context), so a fresh one closes the shell."""
    if exchange.quietly(lambda: protocol.close_shell(shell)):
        return

    def fresh_close() -> None:
        fresh = _protocol(exchange.connection)
        fresh.read_timeout_sec, fresh.operation_timeout_sec = 5, 3
        fresh.close_shell(shell)

    with contextlib.suppress(BaseException):
        exchange.abandoned = False
        exchange.run(fresh_close, closing=True)


def _is_busy(exc: BaseException) -> bool:
    """A WS-Management timeout (w:TimedOut) or ERROR_BUSY (170): the host is loaded, not broken."""
    return isinstance(exc, WinRMOperationTimeoutError) or (
        isinstance(exc, WSManFaultError) and exc.wsman_fault_code == ERROR_BUSY
    )


def _send(protocol: Protocol, shell: str, command: str, data: bytes, end: bool, exchange: _Exchanges) -> None:
    """Send stdin, retrying a timed-out or busy Send with back-off (bounded by tries and the deadline)."""
    for attempt in range(BUSY_RETRIES + 1):
        protocol.operation_timeout_sec = SEND_OPERATION_TIMEOUT
        protocol.read_timeout_sec = SEND_OPERATION_TIMEOUT + 10
        try:
            exchange.run(lambda: protocol.send_command_input(shell, command, data, end=end))
            return
        except (WinRMOperationTimeoutError, WSManFaultError) as exc:
            if not _is_busy(exc) or attempt == BUSY_RETRIES:
                raise
            _back_off(attempt, exchange)
        finally:
            protocol.operation_timeout_sec = OPERATION_TIMEOUT
            protocol.read_timeout_sec = OPERATION_TIMEOUT + 10


def _back_off(attempt: int, exchange: _Exchanges) -> None:
    pause = min(0.25 * 2**attempt, 2.0)
    if time.monotonic() + pause > exchange.deadline:
        raise exchange.too_late()
    time.sleep(pause)


def _converse(
    protocol: Protocol,
    shell: str,
    command: str,
    exchange: _Exchanges,
    script: str,
    stage_two: StageTwoFor | StageTwoRequest,
    transcript: Transcript | None = None,
) -> tuple[StageOne, dict[str, Any]]:
    connection = exchange.connection
    transcript = transcript or Transcript(keep=False)
    known = stage_two if isinstance(stage_two, StageTwoRequest) else None
    payload = stdin_payload(script) + (known.line() if known is not None else b"")
    for offset in range(0, len(payload), SEND_CHUNK):
        last = offset + SEND_CHUNK >= len(payload)
        _send(protocol, shell, command, payload[offset : offset + SEND_CHUNK], known is not None and last, exchange)
    stdout, stderr = bytearray(), bytearray()
    stage_one: StageOne | None = None
    exit_code: int | None = None
    noise = b""
    busy = 0
    while exit_code is None:
        if exchange.cancel.is_set():
            raise Cancelled()
        if time.monotonic() > exchange.deadline:
            raise exchange.too_late()
        # Never let one Receive wait past the deadline on the host.
        protocol.operation_timeout_sec = max(1, min(OPERATION_TIMEOUT, int(exchange.deadline - time.monotonic())))
        try:
            out, err, code, done = exchange.run(lambda: protocol.get_command_output_raw(shell, command))
        except WinRMOperationTimeoutError:
            continue
        except WSManFaultError as exc:
            if not _is_busy(exc):
                raise
            _back_off(min(busy, 3), exchange)
            busy += 1
            continue
        stdout += out
        stderr += err
        transcript.add(out, err)
        _bound_output(len(stdout) + len(stderr), connection)
        if done:
            exit_code = transcript.exit_code = code
        if stage_one is None:
            stage_one, skipped, position = _find_stage_one(stdout, connection)
            noise = noise or skipped
            if stage_one is not None and exit_code is None and not isinstance(stage_two, StageTwoRequest):
                _send(protocol, shell, command, stage_two(stage_one).line(), True, exchange)
            del stdout[:position]
    if stage_one is None:
        if noise or stdout.strip():
            _decode_document(bytes(noise or stdout), connection)
        raise CollectionFailed(
            _no_output_message(connection, exit_code, stdout, stderr),
            "run 'lmpreflight collector-script' on the host to see the error there",
        )
    answer: dict[str, Any] = {}
    for line in bytes(stdout).splitlines():
        if line.strip():
            answer = _decode_document(line, connection)
    return stage_one, answer


def _bound_output(size: int, connection: Connection) -> None:
    if size > MAX_OUTPUT:
        raise CollectionFailed(
            f"{connection.host} sent more than {MAX_OUTPUT // (1024 * 1024)} MB of output; the collection was stopped",
            "something on the host prints without end (a profile, a logon script); run 'lmpreflight collector-script' there",
        )


def _find_stage_one(stdout: bytearray, connection: Connection) -> tuple[StageOne | None, bytes, int]:
    """The collector's stage-one document among the complete lines of ``stdout``, the first
    line printed before it (a banner, a warning: skipped), and how many bytes were consumed.

    One scan with an offset, so the caller removes the consumed bytes once."""
    position = 0
    noise = b""
    while True:
        newline = stdout.find(b"\n", position)
        if newline < 0:
            return None, noise, position
        line = bytes(stdout[position:newline])
        position = newline + 1
        head = line.lstrip(b"\xef\xbb\xbf \t")
        if head.startswith(LANGUAGE_MODE_MARKER.encode()):
            raise _language_mode_failure(line, connection)
        if head.startswith(STAGE_ONE_MARKER):
            return StageOne(_decode_document(line, connection), datetime.now(UTC)), noise, position
        noise = noise or line


def _language_mode_failure(line: bytes, connection: Connection) -> CollectionFailed:
    try:
        mode = str(json.loads(line.decode("utf-8-sig")).get("lmpreflight_language_mode") or "not FullLanguage")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        mode = "not FullLanguage"
    return CollectionFailed(
        f"PowerShell on {connection.host} runs in {mode} mode (an AppLocker or App Control policy), "
        "where the collector cannot run",
        "run the offline collector there instead: 'lmpreflight collector-script --offline', signed with a "
        "code-signing certificate the policy trusts; then 'lmpreflight analyze' its output",
    )


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
    if CLIXML_HEADER in text:
        text = " ".join(clixml_errors(text)) or "no error text (only progress records)"
    text = " ".join(text.split())[:200] or "no output"
    return f"the collector on {connection.host} ended with exit code {exit_code}: {text}"


CLIXML_HEADER = "#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """PowerShell's CLIXML encodes characters XML cannot carry as ``_xHHHH_`` (UTF-16 units;
    a surrogate pair as two); ``_x005F_`` is a literal underscore."""
    units = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return units.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clixml_errors(text: str) -> list[str]:
    """The error records of every ``#< CLIXML`` block in ``text`` (progress and other streams
    skipped), decoded: XML entities by the parser, ``_xHHHH_`` escapes here."""
    messages: list[str] = []
    for block in text.split(CLIXML_HEADER)[1:]:
        body = block.strip()
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            continue
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] == "S" and element.get("S") == "Error" and element.text:
                messages.append(_unescape(element.text))
    return [" ".join("".join(messages).split())] if messages else []
