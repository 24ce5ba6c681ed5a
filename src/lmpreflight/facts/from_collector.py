"""From the collector's JSON to typed host facts. All Windows serialisation quirks end here.

The collector projects every value explicitly, but Windows PowerShell 5.1 still has ways
to surprise: a one-item array unrolled into a bare object, an empty pipeline giving
``null`` instead of ``[]``, arrays wrapped as ``{"value": [...], "Count": n}``, dates as
``/Date(ms)/``. :func:`normalise` undoes these guided by the facts model, so checks never
see them. Each section is validated on its own: one malformed section becomes that
section's collection error and the others still arrive.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from lmpreflight.facts.model import (
    HOST_SECTIONS,
    CollectionError,
    CollectorInfo,
    CompatibilityVerdict,
    HostFacts,
    PortTest,
    VirtualMachine,
)
from lmpreflight.facts.msvm_error import read_msvm_error
from lmpreflight.facts.nltest import parse_dsgetdc
from lmpreflight.facts.validation import describe_validation_error

COLLECTOR_FORMAT = 1
TOOL_SECTIONS = ("directory", "dns")
"""Read by the tool in a live collection; the offline script reads them on the host itself."""
OPTIONAL_SECTIONS = ("events",)
"""Collected only when asked for (diagnose)."""
LATER_SECTIONS = ("resolver",)
"""Host sections newer than the first collector: a document (or a recording) from an older
collector lacks them without any error, and the checks that read them say so."""

_MS_DATE = re.compile(r"^/Date\((-?\d+)\)/$")

HINTS = (
    (
        re.compile(r"Get-VM\w*|Hyper-V", re.I),
        "is the Hyper-V role and its PowerShell module installed? "
        "Install-WindowsFeature -Name Hyper-V -IncludeManagementTools",
    ),
    (
        re.compile(r"access (is )?denied|unauthorized", re.I),
        "run as a member of Administrators or Hyper-V Administrators",
    ),
)


def hint_for(message: str) -> str | None:
    for pattern, hint in HINTS:
        if pattern.search(message):
            return hint
    return None


def _list_item_type(annotation: Any) -> Any | None:
    """``X`` when the annotation is ``list[X]`` (optionally ``| None``, optionally ``Annotated``
    with checks, as ``Texts | None`` is: pydantic keeps the ``Annotated`` inside a union), else
    ``None``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _list_item_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            item = _list_item_type(arg)
            if item is not None:
                return item
        return None
    if origin is list:
        return typing.get_args(annotation)[0]
    return None


def _model_type(annotation: Any) -> type[BaseModel] | None:
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_plain(annotation: Any) -> bool:
    """Neither a list nor a model: of such a value only a ``/Date(ms)/`` string needs undoing."""
    return _list_item_type(annotation) is None and _model_type(annotation) is None


def normalise(value: Any, annotation: Any) -> Any:
    """Undo PowerShell 5.1 serialisation quirks in ``value`` expected to match ``annotation``.
    What needs nothing undone comes back as it is (the same object), not as a copy."""
    return _normaliser(annotation)(value)


@functools.cache
def _normaliser(annotation: Any) -> Callable[[Any], Any]:
    """:func:`normalise` for one annotation, worked out once: a list's items, or a model's
    fields, each with the normaliser its own annotation needs. Hashing a typing annotation is
    slow, and a fleet's documents walk the same few annotations millions of times, so only
    building this looks annotations up; a plain value (most of a document: names, numbers,
    flags) is undone where it stands, without a call of its own. A document as the collector
    means it to be has nothing to undo, so a list or an object is copied only once one of its
    values changes: copying every one of them cost a fleet host half of the walk's time. A
    list that is one is taken as it is, and text is picked out for :func:`_undated` (which
    checks where ``/Date(`` stands) with ``in``, not a method call: a call per value and per
    list was about a tenth of parsing a host."""
    item_type = _list_item_type(annotation)
    if item_type is not None:
        if _is_plain(item_type):
            return _plain_items
        items = _normaliser(item_type)
        return lambda value: _changed_items(value if isinstance(value, list) else _listed(value), items)
    model = _model_type(annotation)
    if model is None:
        return _undated
    annotations: dict[str, Any] = {name: field.annotation for name, field in model.model_fields.items()}
    plain = frozenset(name for name, field in annotations.items() if _is_plain(field))
    nested = {name: _normaliser(field) for name, field in annotations.items() if name not in plain}

    def fields(value: Any) -> Any:
        if not isinstance(value, dict):
            return _undated(value)
        normalised = value
        for key, item in value.items():
            if key in plain:
                if not (isinstance(item, str) and "/Date(" in item):
                    continue
                undone = _undated(item)
            elif key in nested:
                undone = nested[key](item)
            else:
                continue
            if undone is not item:
                if normalised is value:
                    normalised = dict(value)
                normalised[key] = undone
        return normalised

    return fields


def _plain_items(value: Any) -> list[Any]:
    """A list of plain values, each ``/Date(ms)/`` string in it undone."""
    items = value if isinstance(value, list) else _listed(value)
    if items and any(isinstance(item, str) and "/Date(" in item for item in items):
        return [_undated(item) for item in items]
    return items


def _changed_items(items: list[Any], normaliser: Callable[[Any], Any]) -> list[Any]:
    """``items`` each through ``normaliser``: the list itself when none of them changed."""
    for index, item in enumerate(items):
        undone = normaliser(item)
        if undone is not item:
            return [*items[:index], undone, *map(normaliser, items[index + 1 :])]
    return items


def _listed(value: Any) -> list[Any]:
    """A list as PowerShell 5.1 may send it: ``null`` for an empty pipeline, a one-item array
    unrolled into the bare item, or wrapped as ``{"value": [...], "Count": n}``."""
    if value is None:
        return []
    if isinstance(value, dict) and set(value) == {"value", "Count"}:
        value = value["value"]
    return value if isinstance(value, list) else [value]


def _undated(value: Any) -> Any:
    """A ``/Date(ms)/`` string as ISO 8601 text; any other value as it is."""
    if isinstance(value, str) and value.startswith("/Date("):
        match = _MS_DATE.match(value)
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).isoformat()
    return value


@functools.cache
def _parser(annotation: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The normaliser and the validator of one annotation: the adapter's core validator itself,
    called with its defaults as the adapter would call it, without the adapter's own call in
    Python (a host's sections and VMs are some 35 calls)."""
    return _normaliser(annotation), TypeAdapter(annotation).validator.validate_python


@functools.cache
def _section_parser(name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """:func:`_parser` of the HostFacts field ``name``, found by the name: hashing the field's
    annotation (``X | None`` hashes a new frozenset of its members) cost more than the lookup."""
    annotation: Any = HostFacts.model_fields[name].annotation
    return _parser(annotation)


def parse_section(name: str, raw: Any, annotation: Any = None) -> tuple[Any, CollectionError | None]:
    """One section (by default typed as the HostFacts field ``name``), or its collection error."""
    normalised, validated = _section_parser(name) if annotation is None else _parser(annotation)
    try:
        value = validated(normalised(raw))
    except ValidationError as exc:
        return None, CollectionError(
            section=name, message=f"the collector returned an unexpected shape: {describe_validation_error(exc)}"
        )
    return value, None


def parse_vms(raw: Any) -> tuple[list[VirtualMachine] | None, list[CollectionError]]:
    """The VMs one by one: a VM whose document does not fit the model is dropped with its own
    ``vms.<name>`` error and the others are kept, as the collector does for a VM it cannot read.
    A dropped VM is then an incomplete VM in the checks, never an absent one."""
    items = normalise(raw, list[Any])
    vms: list[VirtualMachine] = []
    errors: list[CollectionError] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        section = f"vms.{name}" if isinstance(name, str) and name.strip() else f"vms[{index}]"
        vm, vm_error = parse_section(section, item, VirtualMachine)
        if vm_error is not None:
            errors.append(vm_error)
        else:
            vms.append(vm)
    return vms, errors


def facts_from_collector(
    document: dict[str, Any],
    *,
    target: str,
    collector: CollectorInfo,
    observer_utc: datetime | None,
) -> HostFacts:
    """Host facts from one collector document (live stage one, or the offline script's file)."""
    sections = document.get("sections")
    if document.get("lmpreflight_collector") != COLLECTOR_FORMAT or not isinstance(sections, dict):
        raise ValueError("not an lmpreflight collector document")
    errors: list[CollectionError] = []
    for raw_error in normalise(document.get("errors"), list[dict[str, Any]]):
        message = str(raw_error.get("message") or "unknown error")
        errors.append(
            CollectionError(
                section=str(raw_error.get("section")), message=message, hint=raw_error.get("hint") or hint_for(message)
            )
        )
    reported = {e.section for e in errors}
    values: dict[str, Any] = {}
    for name in (*HOST_SECTIONS, *TOOL_SECTIONS, *OPTIONAL_SECTIONS):
        raw = sections.get(name)
        if name == "clock" and isinstance(raw, dict):
            if observer_utc is None:
                errors.append(
                    CollectionError(
                        section="clock",
                        message="no reference clock was read with the host's time",
                        hint="the offline script compares with a domain controller's time; check that it could read AD",
                    )
                )
                continue
            raw = {**raw, "observer_utc": observer_utc.isoformat()}
        if name == "resolver":
            raw = with_dc_locator_read(raw)
        if raw is None:
            if name not in reported and name not in (*TOOL_SECTIONS, *OPTIONAL_SECTIONS, *LATER_SECTIONS):
                errors.append(CollectionError(section=name, message="the collector did not report this section"))
            continue
        if name == "vms":
            values[name], vm_errors = parse_vms(raw)
            errors.extend(vm_errors)
            continue
        value, error = parse_section(name, raw)
        if error is not None:
            errors.append(error)
        values[name] = value
    return HostFacts(
        collected_at=datetime.now(UTC),
        collector=collector,
        target=target,
        errors=errors,
        **values,
    )


def with_dc_locator_read(raw: Any) -> Any:
    """The resolver section with nltest's printed output read into the DC locator's fields."""
    if not isinstance(raw, dict) or not isinstance(raw.get("dc_locator"), dict):
        return raw
    locator = raw["dc_locator"]
    if set(locator) - {"domain", "exit_code", "output"}:
        return raw  # already read: fields beside the printed output are validated as they are
    exit_code = locator.get("exit_code")
    output = normalise(locator.get("output"), list[Any])
    parsed = parse_dsgetdc(str(locator.get("domain") or ""), exit_code if isinstance(exit_code, int) else None, output)
    return {**raw, "dc_locator": parsed}


def with_stage_two(facts: HostFacts, answer: dict[str, Any]) -> HostFacts:
    """Add what a live host answered in stage two: its own TCP tests towards the peer, and
    Hyper-V's verdicts on the peer's VMs."""
    errors = list(facts.errors)
    update: dict[str, Any] = {}
    if facts.network is not None:
        tests, error = parse_section("network", answer.get("lmpreflight_port_tests"), list[PortTest])
        if error is None:
            update["network"] = facts.network.model_copy(update={"port_tests": tests})
        else:
            errors.append(error)
    verdicts, error = parse_section("compatibility", answer.get("compatibility"))
    update["compatibility"] = [with_reason_messages(v) for v in verdicts] if verdicts is not None else None
    if answer.get("rehearsal") is not None:
        rehearsal, error = parse_section("rehearsal", answer.get("rehearsal"))
        update["rehearsal"] = rehearsal
        if error is not None:
            errors.append(error)
    if error is not None:
        errors.append(error)
    return facts.model_copy(update={**update, "errors": errors})


def with_reason_messages(verdict: CompatibilityVerdict) -> CompatibilityVerdict:
    """Read MessageID and Message from Hyper-V's embedded Msvm_Error reasons; where the host
    could not format them (FormatError), their messages are the readable reasons."""
    messages = [read_msvm_error(text) for text in verdict.reason_instances]
    reasons = verdict.reasons or [m.message for m in messages if m.message]
    return verdict.model_copy(update={"reason_messages": messages, "reasons": reasons})


def facts_from_offline(document: dict[str, Any]) -> HostFacts:
    """Host facts from the file the offline collector script wrote on the host.

    The host's clock is compared with the domain controller's, read by the same script at
    the same moment: the only reference clock an offline run has.
    """
    sections = document.get("sections") if isinstance(document.get("sections"), dict) else {}
    directory = sections.get("directory") if isinstance(sections, dict) else None
    observer = None
    if isinstance(directory, dict) and directory.get("dc_utc"):
        observer = datetime.fromisoformat(str(directory["dc_utc"]).replace("Z", "+00:00"))
    identity = sections.get("identity") if isinstance(sections, dict) else None
    computer = str(document.get("computer_name") or "unknown")
    target = str(identity.get("fqdn")) if isinstance(identity, dict) and identity.get("fqdn") else computer
    info = CollectorInfo(
        method="offline-script",
        tool_version=str(document.get("tool_version") or "unknown"),
        run_from=computer,
        user=document.get("user"),
    )
    return facts_from_collector(document, target=target, collector=info, observer_utc=observer)
