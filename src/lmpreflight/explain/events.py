"""Exported event logs: .evtx files, wevtutil XML and Get-WinEvent JSON, read into EventRecords.

Event text is data from a host: it is read, never interpreted beyond matching. A file that ends
early says so (a truncated .evtx must not read as "no failures"), and a non-empty file without a
single event is refused rather than reported as a quiet log.
"""

from __future__ import annotations

import json
import re
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmpreflight.errors import UserError
from lmpreflight.explain.knowledge import knowledge
from lmpreflight.facts.from_collector import normalise
from lmpreflight.facts.model import EventRecord

EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
LEVELS = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 0: "Information", 5: "Verbose"}
MAX_FILE = 512 * 1024 * 1024
MAX_EVENTS = 200_000
EVTX_HEADER = 4096
EVTX_CHUNK = 65536
_PARAMETER = re.compile(r"(?:Parameter|param)(\d{1,3})$", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"<\?xml[^>]{0,200}\?>")


@dataclass
class EventExport:
    """The events of one exported file, and what the reader noticed about the file itself."""

    events: list[EventRecord]
    warnings: list[str] = field(default_factory=list)


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _time(value: str) -> datetime:
    value = value.strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def event_parameters(element: ET.Element) -> list[str]:
    """The event's insertion strings in order: EventData's <Data> (named Parameter0..N or not)
    and UserData's leaf elements; ParameterN names put each value at its position N."""
    positional: dict[int, str] = {}
    ordered: list[str] = []
    for part in element:
        if _local(part.tag) not in ("EventData", "UserData"):
            continue
        for node in part.iter():
            if len(node) or node is part:
                continue
            value = (node.text or "").strip()
            name = node.get("Name") or _local(node.tag)
            number = _PARAMETER.match(name)
            if number:
                positional[int(number.group(1))] = value
            elif value:
                ordered.append(value)
    if positional:
        return [positional.get(index, "") for index in range(max(positional) + 1)] + ordered
    return ordered


def _message(element: ET.Element, event_id: int, provider: str) -> str:
    """The rendered message when the export has one; otherwise the provider's message template
    filled with the positional parameters (the High-Availability 2150x events are just "%3"), or
    all of the parameters when the template is not known."""
    rendered = element.find(f"{EVENT_NS}RenderingInfo/{EVENT_NS}Message")
    if rendered is not None and rendered.text:
        return rendered.text.strip()
    return _from_parameters(event_parameters(element), event_id, provider)


def _from_parameters(parameters: list[str], event_id: int, provider: str) -> str:
    """The message from positional parameters: through the event's template when it is known
    (and the parameters fill it), otherwise all of them in order."""
    entry = knowledge().event(event_id, provider)
    rendered = entry.render(parameters) if entry is not None else None
    return rendered or " ".join(p for p in parameters if p)


def event_from_xml(element: ET.Element) -> EventRecord:
    system = element.find(f"{EVENT_NS}System")
    if system is None:
        raise ValueError("an Event without System")
    provider_element = system.find(f"{EVENT_NS}Provider")
    provider = provider_element.get("Name", "") if provider_element is not None else ""
    created = system.find(f"{EVENT_NS}TimeCreated")
    event_id = int(_text(system.find(f"{EVENT_NS}EventID")) or 0)
    level = _text(system.find(f"{EVENT_NS}Level"))
    return EventRecord(
        time_created=_time(created.get("SystemTime", "") if created is not None else ""),
        id=event_id,
        provider=provider,
        channel=_text(system.find(f"{EVENT_NS}Channel")),
        level=LEVELS.get(int(level) if level.isdigit() else 4, "Information"),
        computer=_text(system.find(f"{EVENT_NS}Computer")) or None,
        message=_message(element, event_id, provider),
    )


def events_from_xml(text: str) -> list[EventRecord]:
    """wevtutil qe ... /f:xml (or /f:RenderedXml) prints <Event> elements without a root."""
    body = _XML_DECLARATION.sub("", text)
    root = ET.fromstring(f"<Events>{body}</Events>")
    return [event_from_xml(e) for e in root if e.tag.endswith("Event")][:MAX_EVENTS]


def event_from_json(item: Any) -> EventRecord:
    """One object of Get-WinEvent | ConvertTo-Json (Windows PowerShell 5.1 or 7)."""
    if not isinstance(item, dict):
        raise ValueError("an event that is not an object")
    created = normalise(item.get("TimeCreated"), str)
    if created is None:
        raise ValueError("an event without TimeCreated")
    level = item.get("Level")
    properties = item.get("Properties") or []
    if not isinstance(properties, list):
        raise ValueError("Properties that are not a list")
    values = [str(p.get("Value")) if isinstance(p, dict) else str(p) for p in properties]
    event_id = int(item.get("Id") or 0)
    provider = str(item.get("ProviderName") or "")
    return EventRecord(
        time_created=_time(str(created)),
        id=event_id,
        provider=provider,
        channel=str(item.get("LogName") or ""),
        level=LEVELS.get(level, "Information")
        if isinstance(level, int)
        else str(item.get("LevelDisplayName") or level),
        computer=item.get("MachineName"),
        message=str(item.get("Message") or _from_parameters(values, event_id, provider)),
    )


def evtx_truncation(path: Path, size: int) -> str | None:
    """What the file header says is missing: an .evtx holds a 4 KB header and 64 KB chunks."""
    with path.open("rb") as handle:
        header = handle.read(EVTX_HEADER)
    if len(header) < 128:
        return f"the file ends inside its header ({size} bytes)"
    chunks = int.from_bytes(header[42:44], "little")
    expected = EVTX_HEADER + chunks * EVTX_CHUNK
    if size < expected:
        return f"the header announces {chunks} chunk(s) ({expected:,} bytes) but the file has {size:,} bytes"
    return None


def events_from_evtx(path: Path, size: int) -> EventExport:
    try:
        from evtx import PyEvtxParser
    except ImportError:
        raise UserError("reading .evtx files needs an extra package: pip install 'lmpreflight[evtx]'") from None
    export = EventExport([])
    truncated = evtx_truncation(path, size)
    unreadable = 0
    records = PyEvtxParser(str(path)).records()
    while len(export.events) < MAX_EVENTS:
        try:
            record = next(records)
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError):
            unreadable += 1
            if unreadable > 1000:
                break
            continue
        data = str(record.get("data", "")) if isinstance(record, dict) else ""
        export.events.append(event_from_xml(ET.fromstring(_XML_DECLARATION.sub("", data))))
    if truncated:
        export.warnings.append(f"{path}: truncated: {truncated}; failures in the missing part are not shown")
    if unreadable:
        export.warnings.append(f"{path}: {unreadable} record(s) could not be read and were skipped")
    return export


def _parse_text_export(raw: bytes) -> list[EventRecord] | None:
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return events_from_xml(stripped)
    if stripped.startswith(("[", "{")):
        document = json.loads(stripped)
        items = document if isinstance(document, list) else [document]
        return [event_from_json(item) for item in items[:MAX_EVENTS]]
    return None


def read_event_export(path: Path) -> EventExport:
    """Events from an exported log (.evtx, wevtutil XML, Get-WinEvent JSON), with warnings about
    the file; one clear error when it cannot be read or holds no events at all."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a FIFO blocks, /dev/zero never ends
            raise UserError(f"{path}: cannot read the event file (not a regular file)")
        size = status.st_size
        if size > MAX_FILE:
            raise UserError(
                f"{path}: {size // 1_048_576} MB is larger than lmpreflight reads ({MAX_FILE // 1_048_576} MB)"
            )
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the event file ({exc.strerror or exc})") from None
    try:
        if head.startswith(b"ElfFile"):
            export = events_from_evtx(path, size)
        else:
            events = _parse_text_export(path.read_bytes())
            if events is None:
                raise UserError(
                    f"{path}: not an event log: expected .evtx, XML from 'wevtutil qe /f:xml', "
                    "or JSON from 'Get-WinEvent | ConvertTo-Json'"
                )
            export = EventExport(events)
    except UserError:
        raise
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not text (neither UTF-8 nor UTF-16) and not an .evtx file: expected .evtx, XML from "
            "'wevtutil qe /f:xml', or JSON from 'Get-WinEvent | ConvertTo-Json'"
        ) from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to be an event export") from None
    except (
        ValueError,
        ET.ParseError,
        KeyError,
        TypeError,
        AttributeError,
        RuntimeError,
        OSError,
    ) as exc:
        raise UserError(f"{path}: not a readable event export ({str(exc).splitlines()[0][:120]})") from None
    if not export.events and size > 0:
        detail = f" ({export.warnings[0].split(': ', 1)[1]})" if export.warnings else ""
        raise UserError(f"{path}: no event could be read from this {size:,}-byte file{detail}")
    return export


def read_event_file(path: Path) -> list[EventRecord]:
    """The events of an exported log (warnings about the file dropped; see read_event_export)."""
    return read_event_export(path).events
