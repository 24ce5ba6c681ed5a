"""Reading Hyper-V's reasons: embedded ``Msvm_Error`` instances in CIM-XML.

``CheckSystemCompatibilityInfo`` returns its ``Reasons`` as "an array of strings that receives
the embedded instances of the Msvm_Error class" (MicrosoftDocs/win32,
desktop-src/HyperV_v2/checksystemcompatibilityinfo-msvm-virtualsystemmigrationservice.md).
WMI serialises an embedded instance as a DMTF CIM-XML ``INSTANCE`` element (DSP0201): one
``PROPERTY NAME=... TYPE=...`` per property with its ``VALUE``. ``MessageID`` and ``Message``
(desktop-src/HyperV_v2/msvm-error.md) are what a person can act on.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lmpreflight.facts.model import HyperVMessage

MAX_INSTANCE = 64 * 1024
"""An Msvm_Error is a few hundred bytes; anything far larger is not one."""


def read_msvm_error(text: str) -> HyperVMessage:
    """MessageID and Message of one embedded instance; text that is not CIM-XML is kept as the message."""
    stripped = text.strip()
    if not stripped.startswith("<") or len(stripped) > MAX_INSTANCE:
        return HyperVMessage(message=" ".join(stripped.split())[:500])
    try:
        root = ET.fromstring(stripped)
    except ET.ParseError:
        return HyperVMessage(message=" ".join(stripped.split())[:500])
    instance = root if root.tag == "INSTANCE" else root.find(".//INSTANCE")
    values: dict[str, str] = {}
    for prop in (instance if instance is not None else root).iter("PROPERTY"):
        value = prop.find("VALUE")
        if prop.get("NAME") and value is not None and value.text is not None:
            values[str(prop.get("NAME"))] = value.text
    message = values.get("Message") or values.get("ProbableCauseDescription") or ""
    return HyperVMessage(message_id=values.get("MessageID"), message=" ".join(message.split()))
