"""The lab's WS-Management replies, built as text, are the bytes ElementTree writes for them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from lmpreflight.lab.wsman import NS, SHELL, STATE_DONE, WsmanFault, _element, _envelope, _fault

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
    ET.SubElement(code, f"{{{NS['s']}}}Value").text = "s:Receiver"
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
