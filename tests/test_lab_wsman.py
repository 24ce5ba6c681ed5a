"""The lab's WS-Management replies, built as text, are the bytes ElementTree writes for them;
its requests are read as http.server reads them."""

from __future__ import annotations

import base64
import http.client
import inspect
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from lmpreflight.lab import wsman
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.lab.wsman import (
    ERROR_BUSY,
    ERROR_WSMAN_QUOTA_MAX_SHELLS,
    NS,
    SHELL,
    STATE_DONE,
    TIMED_OUT,
    WsmanFault,
    _element,
    _envelope,
    _expanded,
    _fault,
    _Handler,
)
from tests.lab_helpers import pywinrm_session

HOSTILE = 'a <b> & "c"\n\r\td'
MESSAGE_ID = re.compile(rb"uuid:[0-9A-F-]{36}</a:MessageID>")


def _tree_envelope(action: str, relates_to: str, body: ET.Element | None) -> bytes:
    """The reply as ElementTree writes it (the namespaces under their WS-Management prefixes)."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    envelope = ET.Element(f"{{{NS['s']}}}Envelope", {"xml:lang": "en-US"})
    header = ET.SubElement(envelope, f"{{{NS['s']}}}Header")
    ET.SubElement(header, f"{{{NS['a']}}}Action").text = action
    ET.SubElement(header, f"{{{NS['a']}}}MessageID").text = "uuid:00000000-0000-0000-0000-000000000000"
    ET.SubElement(header, f"{{{NS['a']}}}To").text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    ET.SubElement(header, f"{{{NS['a']}}}RelatesTo").text = relates_to
    body_element = ET.SubElement(envelope, f"{{{NS['s']}}}Body")
    if body is not None:
        body_element.append(body)
    return ET.tostring(envelope, encoding="utf-8")


def _same_id(xml: bytes) -> bytes:
    return MESSAGE_ID.sub(b"uuid:00000000-0000-0000-0000-000000000000</a:MessageID>", xml)


def test_an_empty_reply_is_what_elementtree_writes() -> None:
    action = "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse"
    assert _same_id(_envelope(action, HOSTILE)) == _tree_envelope(action, HOSTILE, None)


def test_a_receive_reply_is_what_elementtree_writes() -> None:
    response = ET.Element(f"{{{SHELL}}}ReceiveResponse")
    ET.SubElement(response, f"{{{SHELL}}}Stream", {"Name": "stdout", "CommandId": HOSTILE}).text = "QUJD"
    state = ET.SubElement(response, f"{{{SHELL}}}CommandState", {"CommandId": HOSTILE, "State": STATE_DONE})
    ET.SubElement(state, f"{{{SHELL}}}ExitCode").text = "0"
    text = _element(
        "rsp:ReceiveResponse",
        _element("rsp:Stream", "QUJD", {"Name": "stdout", "CommandId": HOSTILE})
        + _element("rsp:CommandState", _element("rsp:ExitCode", "0"), {"CommandId": HOSTILE, "State": STATE_DONE}),
    )
    action = f"{SHELL}/ReceiveResponse"
    assert _same_id(_envelope(action, "uuid:1", text)) == _tree_envelope(action, "uuid:1", response)


def test_a_fault_is_what_elementtree_writes_and_reads_back() -> None:
    fault = WsmanFault(2150858771, "w:ActionNotSupported", f"The action {HOSTILE} is not supported.")
    body = ET.Element(f"{{{NS['s']}}}Fault")
    code = ET.SubElement(body, f"{{{NS['s']}}}Code")
    ET.SubElement(code, f"{{{NS['s']}}}Value").text = "s:Sender"  # wsmerror.h: "wsa, code=Sender"
    sub = ET.SubElement(code, f"{{{NS['s']}}}Subcode")
    ET.SubElement(sub, f"{{{NS['s']}}}Value").text = fault.subcode
    reason = ET.SubElement(body, f"{{{NS['s']}}}Reason")
    ET.SubElement(reason, f"{{{NS['s']}}}Text", {"xml:lang": "en-US"}).text = fault.reason
    detail = ET.SubElement(body, f"{{{NS['s']}}}Detail")
    wsman_fault = ET.SubElement(detail, f"{{{NS['f']}}}WSManFault", {"Code": str(fault.code), "Machine": HOSTILE})
    ET.SubElement(wsman_fault, f"{{{NS['f']}}}Message").text = fault.reason
    written = _fault(fault, HOSTILE, HOSTILE)
    assert _same_id(written) == _tree_envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", HOSTILE, body)
    read = ET.fromstring(written)
    assert read.findtext("s:Header/a:RelatesTo", namespaces=NS) == HOSTILE.replace("\r", "\n")  # XML's line ends
    assert read.find("s:Body/s:Fault/s:Detail/f:WSManFault", NS).get("Machine") == HOSTILE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "soap_code"),
    [
        (WsmanFault(ERROR_WSMAN_QUOTA_MAX_SHELLS, "w:QuotaLimit", "too many shells"), "s:Sender"),
        (WsmanFault(2150858843, "w:InvalidSelectors", "The command is not known to this shell."), "s:Sender"),
        (WsmanFault(*TIMED_OUT), "s:Receiver"),
        (WsmanFault(ERROR_BUSY, "w:InternalError", "The requested resource is in use."), "s:Receiver"),
    ],
)
def test_a_fault_names_the_side_windows_blames(fault: WsmanFault, soap_code: str) -> None:
    """Windows' SOAP code says whose fault it is: the request's for a quota or a bad selector,
    its own for a timeout or an internal error (wsmerror.h, DSP0226)."""
    read = ET.fromstring(_fault(fault, "uuid:1", "HV01"))
    assert read.findtext("s:Body/s:Fault/s:Code/s:Value", namespaces=NS) == soap_code
    assert read.findtext("s:Body/s:Fault/s:Code/s:Subcode/s:Value", namespaces=NS) == fault.subcode


DATE = re.compile(rb"Date: [^\r]*")


class _Trickle(io.RawIOBase):
    """A connection that delivers at most ``size`` bytes a read, as a slow client's segments arrive."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data[: min(len(buffer), self.size)]
        buffer[: len(chunk)] = chunk
        self.data = self.data[len(chunk) :]
        return len(chunk)


def _parsed(parse: Callable[[_Handler], bool], data: bytes, size: int = 1 << 20) -> tuple[Any, ...]:
    """Everything a parse of ``data`` leaves behind: its outcome, the request's fields and
    headers, the bytes left to read and the error reply written (its Date aside)."""
    handler = _Handler.__new__(_Handler)  # no connection: parse_request reads rfile and writes wfile only
    handler.rfile = io.BufferedReader(_Trickle(data, size))
    handler.wfile = io.BytesIO()
    handler.raw_requestline = handler.rfile.readline(65537)
    parsed = parse(handler)
    fields = ("command", "path", "request_version", "requestline", "close_connection")
    return (
        parsed,
        *(getattr(handler, name, None) for name in fields),
        handler.headers.items() if parsed else None,
        handler.rfile.read(),
        DATE.sub(b"Date: -", handler.wfile.getvalue()),
    )


def _winrm_requests() -> list[bytes]:
    """The request heads (and what followed them in the buffer) of a real pywinrm session with
    the lab: the NTLM handshake, then sealed WinRS messages."""
    heads: list[bytes] = []
    parse = _Handler.parse_request

    def recording(handler: _Handler) -> bool:
        assert isinstance(handler.rfile, io.BufferedReader)
        heads.append(handler.raw_requestline + handler.rfile.peek())
        return parse(handler)

    scenario = load_scenario("healthy")
    with pytest.MonkeyPatch.context() as patch, Lab(scenario) as lab:
        patch.setattr(_Handler, "parse_request", recording)
        session = pywinrm_session(lab, scenario)
        session.run_cmd("hostname")
    return heads


ODD_REQUESTS = [
    b"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /wsman HTTP/1.1\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nX-A: b \t\r\nX-B:\t\tc\r\nX-C:\r\nx-a: again\r\nWWW-Odd~Name!: d\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nX-D: caf\xe9\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nX-E: a\x0bb\x0cc\x1cd\x85e\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nX-F: folded\r\n  on\r\n\tlines\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\n continued first\r\nX-G: g\r\n\r\n",
    b"POST /wsman HTTP/1.1\nX-H: bare line feeds\n\n",
    b"POST /wsman HTTP/1.1\r\nX-I: a\rb\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nNo colon here\r\nX-J: j\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\n: no name\r\nX-K: k\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nBad Name: l\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nFrom nobody Mon Jan 1\r\nX-M: m\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nFrom: someone\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"POST /wsman HTTP/1.1\r\nX-N: no blank line yet\r\n",
    b"POST /wsman HTTP/1.0\r\nX-O: o\r\n\r\n",
    b"POST /wsman HTTP/2.0\r\n\r\n",
    b"POST /wsman HTTP/1.x\r\n\r\n",
    b"POST  /wsman  HTTP/1.1 \r\nX-P: p\r\n\r\n",
    b"POST //elsewhere/wsman HTTP/1.1\r\n\r\n",
    b"GET /wsman\r\n",
    b"POST /wsman HTTP/1.1 extra\r\n\r\n",
    b"POST /wsman HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(99)) + b"\r\n",
    b"POST /wsman HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(100)) + b"\r\n",
    b"POST /wsman HTTP/1.1\r\nX-Q: " + b"q" * 70000 + b"\r\n\r\n",
]


@pytest.mark.parametrize("size", [1 << 20, 7])
@pytest.mark.parametrize("request_bytes", ODD_REQUESTS)
def test_a_request_is_read_as_http_server_reads_it(request_bytes: bytes, size: int) -> None:
    """Plain or odd, whole in the buffer or trickling in: the same fields, headers, bytes left
    and error reply as http.server's own parsing."""
    ours = _parsed(_Handler.parse_request, request_bytes, size)
    assert ours == _parsed(BaseHTTPRequestHandler.parse_request, request_bytes, size)


def test_a_winrm_clients_requests_are_read_as_http_server_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a real session, the NTLM handshake and the sealed messages: the same
    as http.server's parsing, and without the email package (where the lab's CPU went)."""
    heads = _winrm_requests()
    assert len(heads) >= 6
    assert any(b"Authorization: Negotiate" in head for head in heads)
    assert any(b"multipart/encrypted" in head for head in heads)
    expected = [_parsed(BaseHTTPRequestHandler.parse_request, head) for head in heads]

    def unused(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a plain request went through the email package")

    monkeypatch.setattr(http.client, "parse_headers", unused)
    assert [_parsed(_Handler.parse_request, head) for head in heads] == expected


REQUEST = f"""<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}"
 xmlns:x="{NS["x"]}" xmlns:odd="urn:odd">
<s:Header><a:Action>A</a:Action><odd:Action>decoy</odd:Action><a:MessageID>uuid:1</a:MessageID>
<w:OperationTimeout>PT20S</w:OperationTimeout><x:OperationTimeout>decoy</x:OperationTimeout>
<w:SelectorSet><w:Selector Name="ShellId">S1</w:Selector><odd:Selector Name="ShellId">decoy</odd:Selector>
<w:Selector Name="Other">S2</w:Selector></w:SelectorSet><odd:SelectorSet><w:Selector>decoy</w:Selector></odd:SelectorSet>
<w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option><w:Option Name="B">2</w:Option></w:OptionSet></s:Header>
<odd:Body/><s:Body><rsp:CommandLine><rsp:Command>powershell</rsp:Command><rsp:Arguments>-a</rsp:Arguments>
<rsp:Arguments>-b</rsp:Arguments><odd:Arguments>decoy</odd:Arguments></rsp:CommandLine>
<rsp:Send><rsp:Stream Name="stdin">QQ==</rsp:Stream></rsp:Send><rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream>
</rsp:Receive><rsp:Signal CommandId="C"/><s:Header>nested</s:Header></s:Body></s:Envelope>"""


def test_each_path_the_listener_reads_finds_what_the_prefix_map_finds() -> None:
    """From every element of a request holding each part twice or in another namespace."""
    paths = set(re.findall(r'_expanded\("([^"]+)"\)', inspect.getsource(wsman)))
    assert len(paths) >= 12
    root = ET.fromstring(REQUEST)
    for path in paths:
        for element in root.iter():
            assert list(element.iterfind(_expanded(path))) == list(element.iterfind(path, NS)), path
            assert element.find(_expanded(path)) is element.find(path, NS), path


def _ntlm_session() -> tuple[Any, Any]:
    """A pywinrm-like NTLM client and the lab's acceptor (pyspnego's), authenticated."""
    import spnego

    wsman.NtlmUsers.register("LAB", "sealer", "Seal-Pa55", "lab.example")
    client = spnego.client("LAB\\sealer", "Seal-Pa55", protocol="ntlm")
    server = spnego.server(protocol="ntlm")
    server.step(client.step(server.step(client.step())))
    assert server.complete
    return client, server


@pytest.fixture
def ntlm_users() -> Any:
    wsman.NtlmUsers.acquire()
    yield
    wsman.NtlmUsers.release()


MESSAGES = [b"", b"<s:Envelope/>", bytes(range(256)) * 40, "Größe \u2603".encode() * 500, b"x" * 131_072]


def test_sealing_is_byte_for_byte_pyspnegos(ntlm_users: Any) -> None:
    """The lab's sealing of replies and unsealing of requests, message after message, against
    pyspnego's on the same session (the same keys, the same RC4 streams from the start)."""
    client, server = _ntlm_session()
    sealing = wsman.NtlmSealing.of(server)
    assert isinstance(sealing, wsman.NtlmSealing)
    for message in MESSAGES:
        ours, theirs = sealing.wrap_winrm(message), server.wrap_winrm(message)
        assert (ours.header, ours.data) == (theirs.header, theirs.data)
        assert client.unwrap_winrm(ours.header, ours.data) == message
        request = client.wrap_winrm(message[::-1])
        assert sealing.unwrap_winrm(request.header, request.data) == message[::-1]
        assert server.unwrap_winrm(request.header, request.data) == message[::-1]


def test_a_request_sealed_out_of_turn_or_altered_is_refused(ntlm_users: Any) -> None:
    """As pyspnego refuses it: a signature that is not this message's, in this place."""
    for alter in (lambda h, d: (h, d[:-1] + bytes([d[-1] ^ 1])), lambda h, d: (h[:12] + b"\x05\x00\x00\x00", d)):
        client, server = _ntlm_session()
        sealing = wsman.NtlmSealing.of(server)
        request = client.wrap_winrm(b"<s:Envelope>request</s:Envelope>")
        header, data = alter(request.header, request.data)
        with pytest.raises(ValueError):
            sealing.unwrap_winrm(header, data)
        client, server = _ntlm_session()
        request = client.wrap_winrm(b"<s:Envelope>request</s:Envelope>")
        with pytest.raises(Exception, match="Invalid Message integrity"):
            server.unwrap_winrm(*alter(request.header, request.data))


def test_a_refused_logon_leaves_the_connection_unauthenticated(ntlm_users: Any) -> None:
    """A connection that logged on, then sent an AUTHENTICATE the listener refused, must log on
    again, as on Windows: a plain request after it hears 401, not the answer a logged-on
    connection gets (the lab used to keep the first logon and answer it)."""
    import spnego

    wsman.NtlmUsers.register("LAB", "sealer", "Seal-Pa55", "lab.example")
    server = wsman.WsmanServer(None, wsman.WsmanOptions(), "hv01")
    port = int(server.start().split(":")[2].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def post(headers: dict[str, str], body: bytes = b"") -> tuple[int, str | None]:
        connection.request("POST", "/wsman", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("WWW-Authenticate")

    try:
        client = spnego.client("LAB\\sealer", "Seal-Pa55", protocol="ntlm")
        _, challenge = post({"Authorization": "Negotiate " + base64.b64encode(client.step()).decode()})
        assert challenge is not None
        authenticate = client.step(base64.b64decode(challenge.split()[1]))
        assert post({"Authorization": "Negotiate " + base64.b64encode(authenticate).decode()})[0] != 401
        soap = {"Content-Type": "application/soap+xml;charset=UTF-8"}
        envelope = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>'
        assert post(soap, envelope)[0] != 401, "logged on"
        altered = authenticate[:-1] + bytes([authenticate[-1] ^ 1])
        assert post({"Authorization": "Negotiate " + base64.b64encode(altered).decode()})[0] == 401
        assert post(soap, envelope) == (401, "Negotiate")
    finally:
        connection.close()
        server.stop()


def _old_reply(handler: _Handler, status: int, body: bytes, headers: dict[str, str] | None) -> None:
    """A reply as http.server writes it through its own calls."""
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (200, b"", None),
        (404, b"", None),
        (401, b"", {"WWW-Authenticate": "Negotiate"}),
        (401, b"", {"WWW-Authenticate": 'Basic realm="WSMAN"'}),
        (500, b"<s:Envelope/>" * 3000, {"Content-Type": "application/soap+xml;charset=UTF-8"}),
        (200, bytes(range(256)), {"Content-Type": 'multipart/encrypted;protocol="x";boundary="Encrypted Boundary"'}),
    ],
)
def test_a_reply_is_written_as_http_server_writes_it(
    status: int, body: bytes, headers: dict[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status line, Server, Date, the headers and the body, byte for byte, across seconds."""
    written = []
    for now in (1_790_000_000.0, 1_790_000_000.75, 1_790_000_001.5, 1_790_086_399.25):
        monkeypatch.setattr(wsman.time, "time", lambda now=now: now)
        for reply in (_Handler._reply, _old_reply):
            handler = _Handler.__new__(_Handler)
            handler.wfile, handler.request_version, handler.requestline = (
                io.BytesIO(),
                "HTTP/1.1",
                "POST /wsman HTTP/1.1",
            )
            reply(handler, status, body, headers)
            written.append(handler.wfile.getvalue())
    assert written[0::2] == written[1::2]
    assert len(set(written)) == 3  # the first two in one second


SCRIPT = base64.b64encode(bytes(range(256)) * 120).decode()
"""A stream as long as a Send of the collector script's (the ``+``, ``/`` and ``=`` of base64 included)."""
SEND = (
    '<?xml version="1.0" encoding="utf-8"?>\n<env:Envelope xmlns:env="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:rsp="{rsp}">'
    '<env:Header><a:Action>{action}</a:Action><w:SelectorSet><w:Selector Name="ShellId">S1</w:Selector>'
    "</w:SelectorSet></env:Header><env:Body><rsp:Send>{stream}</rsp:Send></env:Body></env:Envelope>"
)


def _send(stream: str) -> bytes:
    return SEND.format(action=wsman.ACTION_SEND, stream=stream, **NS).encode()


def _stream(text: str, attributes: str = 'CommandId="C1" Name="stdin" End="true"') -> str:
    return f"<rsp:Stream {attributes}>{text}</rsp:Stream>"


@pytest.mark.parametrize(
    "body",
    [
        _send(_stream(SCRIPT)),
        _send(_stream(SCRIPT[:800])),
        _send(_stream(SCRIPT, f'CommandId="C1" Name="stdin" End="true" xmlns:rsp="{NS["rsp"]}"')),
        _send(_stream(SCRIPT[:5000] + "\r\n" + SCRIPT[5000:])),
        _send(_stream(SCRIPT[:5000] + "&#65;&amp;" + SCRIPT[5000:])),
        _send(_stream(SCRIPT[:5000] + "\x01" + SCRIPT[5000:])),
        _send(_stream(SCRIPT[:5000] + "\xe9" + SCRIPT[5000:])),
        _send(_stream(SCRIPT + "<odd/>")),
        _send(_stream(SCRIPT) + _stream(SCRIPT)),
        _send(_stream(SCRIPT) + "<a:Note>LMPREFLIGHTLABSTREAMTEXT</a:Note>"),
        _send(_stream(SCRIPT) + '<a:Note x="LMPREFLIGHTLABSTREAMTEXT"/>'),
        _send("<!--" + _stream(SCRIPT) + "-->"),
        _send("<a:Note><![CDATA[" + _stream(SCRIPT) + "]]></a:Note>"),
        _send('<a:Note x="' + _stream(SCRIPT).replace("<", "&lt;", 1) + '"/>'),
        _send("<rsp:Stream Name='a>" + SCRIPT + "</rsp:Stream>'/>"),
        _send('<rsp:Stream Name="stdin"/>' + SCRIPT + "</rsp:Stream>"),
        _send("<rsp:Stream Name='stdin'><!--c-->" + SCRIPT + "</rsp:Stream>"),
        _send("<rsp:Stream Name='stdin'>x<!--c-->" + SCRIPT + "</rsp:Stream>"),
        _send("<!--" + _stream(SCRIPT) + "-->" + _stream("&#76;MPREFLIGHTLABSTREAMTEXT")),
        _send("<!--" + _stream(SCRIPT) + "-->" + _stream("&#x4C;MPREFLIGHTLABSTREAMTEXT")),
        _send("<?pi " + _stream(SCRIPT) + "?>" + _stream("LMPREFLIGHT<?x?>LABSTREAMTEXT")),
        _send(_stream(SCRIPT) + "<a:Note>LMPREFLIGHT<![CDATA[LAB]]>STREAMTEXT</a:Note>"),
        _send(_stream(SCRIPT)).replace(b"</env:Body>", b"</env:Bodx>"),
        _send(_stream(SCRIPT)).replace(b"<rsp:Stream ", b"<odd:Stream ").replace(b"</rsp:Stream>", b"</odd:Stream>"),
        _send(_stream(SCRIPT))[:-40],
        _send(_stream(SCRIPT)).decode().replace("utf-8", "iso-8859-1").encode("latin-1"),
    ],
)
def test_a_request_is_parsed_as_elementtree_parses_it(body: bytes) -> None:
    """A Send's long stream text set aside while the rest is parsed, or the request parsed
    whole: the same tree as ElementTree's parse of it, or the same refusal."""
    try:
        expected: Any = ET.tostring(ET.fromstring(body))
    except ET.ParseError as error:
        expected = (ET.ParseError, str(error))
    try:
        parsed: Any = ET.tostring(wsman.request_tree(body))
    except ET.ParseError as error:
        parsed = (ET.ParseError, str(error))
    assert parsed == expected


def test_a_fleets_send_is_parsed_without_its_stream_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Send a fleet's host gets: its stream text is not handed to expat, and it decodes as base64 decodes it."""
    parsed: list[bytes] = []
    parse = ET.fromstring
    monkeypatch.setattr(wsman.ET, "fromstring", lambda data: parsed.append(data) or parse(data))
    root = wsman.request_tree(_send(_stream(SCRIPT)))
    assert len(parsed) == 1 and SCRIPT.encode() not in parsed[0]
    stream = root.find(_expanded("s:Body/rsp:Send/rsp:Stream"))
    assert stream is not None and stream.text == SCRIPT
    assert wsman._stdin(stream.text) == wsman._stdin(SCRIPT) == base64.b64decode(SCRIPT)


@pytest.mark.parametrize("size", [1 << 20, 7])
@pytest.mark.parametrize("request_bytes", ODD_REQUESTS)
def test_a_requests_fields_are_what_its_headers_give(request_bytes: bytes, size: int) -> None:
    """Plain or odd, each header looked up by name gives what the email package's ``get`` gives."""
    handler = _Handler.__new__(_Handler)
    handler.rfile = io.BufferedReader(_Trickle(request_bytes, size))
    handler.wfile = io.BytesIO()
    handler.raw_requestline = handler.rfile.readline(65537)
    if handler.parse_request():
        names = {name.lower() for name in handler.headers} | {"content-length", "authorization"}
        assert {name: handler.fields.get(name) for name in names} == {name: handler.headers.get(name) for name in names}


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<rsp:Stream>QQ==</rsp:Stream>",
        "<<rsp:a><x:<y:b>",
        "a<b:<c:d:e><f:g/></f:g>&lt;h:",
        "<é:x><_1:y><:z><a :b>< c:d>",
        _element("rsp:ReceiveResponse", _element("rsp:Stream", SCRIPT, {"Name": "stdout"}) * 3),
    ],
)
def test_the_envelopes_namespaces_are_those_the_regular_expression_finds(body: str) -> None:
    assert wsman._tag_prefixes(body) == set(wsman.PREFIXED_TAG.findall(body))
