"""Event logs: exported files (.evtx, wevtutil XML, Get-WinEvent JSON) and collected events,
grouped into incidents — one failed move, with its sibling events on both hosts — each with
one explanation."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lmpreflight.collect.parse import normalise
from lmpreflight.errors import UserError
from lmpreflight.explain.engine import explain_text
from lmpreflight.explain.knowledge import knowledge
from lmpreflight.explain.model import Incident, IncidentEvent
from lmpreflight.facts.model import EventRecord
from lmpreflight.model import Result

EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
LEVELS = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 0: "Information", 5: "Verbose"}
HYPERV = re.compile(r"hyper-v", re.IGNORECASE)
WINDOW = timedelta(minutes=2)
MAX_FILE = 512 * 1024 * 1024
_VM_NAME = re.compile(
    r"""(?:operation for|live migration of|virtual machine)\s+["'“](?:virtual machine\s+)?([^"'”\r\n]{1,100}?)["'”]""",
    re.IGNORECASE,
)


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _time(value: str) -> datetime:
    value = value.strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_from_xml(element: ET.Element) -> EventRecord:
    system = element.find(f"{EVENT_NS}System")
    if system is None:
        raise ValueError("an Event without System")
    provider = system.find(f"{EVENT_NS}Provider")
    created = system.find(f"{EVENT_NS}TimeCreated")
    rendered = element.find(f"{EVENT_NS}RenderingInfo/{EVENT_NS}Message")
    if rendered is not None and rendered.text:
        message = rendered.text.strip()
    else:
        values = [
            t.strip()
            for part in ("EventData", "UserData")
            for node in element.iter()
            if node.tag.endswith(part)
            for t in node.itertext()
            if t.strip()
        ]
        message = " ".join(values)
    level = _text(system.find(f"{EVENT_NS}Level"))
    return EventRecord(
        time_created=_time(created.get("SystemTime", "") if created is not None else ""),
        id=int(_text(system.find(f"{EVENT_NS}EventID")) or 0),
        provider=provider.get("Name", "") if provider is not None else "",
        channel=_text(system.find(f"{EVENT_NS}Channel")),
        level=LEVELS.get(int(level) if level.isdigit() else 4, "Information"),
        computer=_text(system.find(f"{EVENT_NS}Computer")) or None,
        message=message,
    )


def events_from_xml(text: str) -> list[EventRecord]:
    """wevtutil qe ... /f:xml (or /f:RenderedXml) prints <Event> elements without a root."""
    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    root = ET.fromstring(f"<Events>{body}</Events>")
    return [event_from_xml(e) for e in root if e.tag.endswith("Event")]


def event_from_json(item: dict[str, Any]) -> EventRecord:
    """One object of Get-WinEvent | ConvertTo-Json (Windows PowerShell 5.1 or 7)."""
    created = normalise(item.get("TimeCreated"), str)
    level = item.get("Level")
    return EventRecord(
        time_created=_time(str(created)),
        id=int(item.get("Id") or 0),
        provider=str(item.get("ProviderName") or ""),
        channel=str(item.get("LogName") or ""),
        level=LEVELS.get(level, "Information")
        if isinstance(level, int)
        else str(item.get("LevelDisplayName") or level),
        computer=item.get("MachineName"),
        message=str(item.get("Message") or " ".join(str(p.get("Value")) for p in item.get("Properties") or [])),
    )


def events_from_evtx(path: Path) -> list[EventRecord]:
    try:
        from evtx import PyEvtxParser
    except ImportError:
        raise UserError("reading .evtx files needs an extra package: pip install 'lmpreflight[evtx]'") from None
    events = []
    for record in PyEvtxParser(str(path)).records():
        data = str(record.get("data", "")) if isinstance(record, dict) else ""
        element = ET.fromstring(re.sub(r"<\?xml[^>]*\?>", "", data))
        events.append(event_from_xml(element))
    return events


def read_event_file(path: Path) -> list[EventRecord]:
    """Events from an exported log: .evtx, wevtutil XML, or Get-WinEvent JSON; one clear error otherwise."""
    try:
        size = path.stat().st_size
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
            return events_from_evtx(path)
        raw = path.read_bytes()
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
        stripped = text.lstrip()
        if stripped.startswith("<"):
            return events_from_xml(stripped)
        if stripped.startswith(("[", "{")):
            document = json.loads(stripped)
            return [event_from_json(item) for item in (document if isinstance(document, list) else [document])]
    except UserError:
        raise
    except (ValueError, ET.ParseError, KeyError, TypeError, RuntimeError, OSError) as exc:
        raise UserError(f"{path}: not a readable event export ({str(exc).splitlines()[0][:120]})") from None
    raise UserError(
        f"{path}: not an event log: expected .evtx, XML from 'wevtutil qe /f:xml', "
        "or JSON from 'Get-WinEvent | ConvertTo-Json'"
    )


def is_failure(event: EventRecord) -> bool:
    entry = knowledge().event(event.id)
    if entry is not None:
        return entry.failure
    return event.level in ("Error", "Critical") and bool(HYPERV.search(event.provider + event.channel))


def vm_names_in(text: str) -> list[str]:
    """The VM names a migration message quotes ("operation for 'SQL01'", "Live migration of 'Virtual Machine X'")."""
    return [m.group(1).strip() for m in _VM_NAME.finditer(text)]


def vm_of(event: EventRecord) -> str | None:
    names = vm_names_in(event.message)
    return names[0] if names else None


@dataclass
class _Group:
    anchor: datetime
    vm: str | None
    members: list[tuple[str, EventRecord]]


def find_incidents(
    events_by_host: Mapping[str, Iterable[EventRecord]],
    results: list[Result] | None = None,
    source_auth: str | None = None,
) -> list[Incident]:
    """Group each failure with the Hyper-V events of the same VM (or of no named VM) within
    five minutes on any host, and explain the group's messages together."""
    tagged = sorted(
        (
            (host, e)
            for host, events in events_by_host.items()
            for e in events
            if HYPERV.search(e.provider + e.channel) or knowledge().event(e.id)
        ),
        key=lambda item: item[1].time_created,
    )
    groups: list[_Group] = []
    for host, event in tagged:
        if not is_failure(event):
            continue
        vm = vm_of(event)
        group = next(
            (
                g
                for g in groups
                if abs(event.time_created - g.anchor) <= WINDOW
                and (g.vm is None or vm is None or g.vm.casefold() == vm.casefold())
            ),
            None,
        )
        if group is None:
            groups.append(_Group(event.time_created, vm, [(host, event)]))
        else:
            group.members.append((host, event))
            group.vm = group.vm or vm
    for group in groups:
        for host, event in tagged:
            if (host, event) in group.members or is_failure(event):
                continue
            near = abs(event.time_created - group.anchor) <= WINDOW
            same_vm = vm_of(event) is None or group.vm is None or (vm_of(event) or "").casefold() == group.vm.casefold()
            if near and same_vm and event.level in ("Error", "Warning", "Critical"):
                group.members.append((host, event))
    incidents = []
    for group in groups:
        members = sorted(group.members, key=lambda item: item[1].time_created)
        text = "\n".join(f"Event ID {e.id}: {e.message}" for _, e in members)
        incidents.append(
            Incident(
                started=members[0][1].time_created,
                vm=group.vm,
                hosts=sorted({host for host, _ in members}),
                events=[
                    IncidentEvent(
                        host=h,
                        time_created=e.time_created,
                        id=e.id,
                        level=e.level,
                        channel=e.channel,
                        message=e.message,
                    )
                    for h, e in members
                ],
                explanation=explain_text(text, results, source_auth),
            )
        )
    return incidents
