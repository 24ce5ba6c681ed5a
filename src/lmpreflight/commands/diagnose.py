"""diagnose: find the failed moves in the hosts' Hyper-V event logs and explain each one."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import click
from pydantic import BaseModel, ConfigDict

from lmpreflight.collect.parallel import CollectOptions
from lmpreflight.commands.check import live_check
from lmpreflight.commands.common import (
    ReportOptions,
    load_fact_pair,
    load_registry,
    make_console,
    report_options,
    run_and_report,
)
from lmpreflight.commands.connection import ConnectionSettings, collect_options, connection_options
from lmpreflight.commands.explain import facts_option
from lmpreflight.errors import UserError
from lmpreflight.escape import visible
from lmpreflight.exit_codes import ExitCode
from lmpreflight.explain.events import read_event_export
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.explain.model import Incident, OfOtherVms, Older
from lmpreflight.explain.render import incidents_markdown, render_incidents
from lmpreflight.facts.model import EventRecord, HostFacts, short_host_name
from lmpreflight.fileio import write_atomic
from lmpreflight.pipeline import concerning, explain_failures
from lmpreflight.runner import COLLECTION_CHECK_ID, evaluate

_SINCE = re.compile(r"^(\d+)\s*([hd])$", re.IGNORECASE)
MAX_HOURS = 24 * 31


def parse_since(text: str) -> int:
    """'24h' or '7d' → hours."""
    match = _SINCE.match(text.strip())
    if not match:
        raise UserError(f"--since {text}: expected hours or days, like 24h or 7d")
    hours = int(match.group(1)) * (24 if match.group(2).lower() == "d" else 1)
    if not 1 <= hours <= MAX_HOURS:
        raise UserError(f"--since {text}: between 1h and {MAX_HOURS // 24}d")
    return hours


class Diagnosis(BaseModel):
    """What 'diagnose --evtx' prints with --format json when no host facts are given
    (:class:`lmpreflight.explain.model.ShownIncidents`, like the report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    events_read: int
    incidents: list[Incident]
    incidents_of_other_vms: OfOtherVms = 0
    incidents_older: Older = 0


def _host_label(path: Path, events: list[EventRecord]) -> str:
    computers = {e.computer for e in events if e.computer}
    return short_host_name(sorted(computers)[0]) if len(computers) == 1 else path.stem


@click.command(short_help="Explain the failed moves in the hosts' event logs.")
@click.argument("hosts", nargs=-1, metavar="[SOURCE DESTINATION]")
@click.option(
    "--since",
    "since_hours",
    metavar="DURATION",
    default="24h",
    show_default=True,
    callback=lambda _ctx, _param, value: parse_since(value),
    help="How far back to read the event logs (live): hours or days, like 24h or 7d.",
)
@click.option(
    "--evtx",
    "event_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Exported event log (.evtx, wevtutil XML, Get-WinEvent JSON) instead of a live host (repeatable).",
)
@facts_option
@report_options
@connection_options
def diagnose(
    hosts: tuple[str, ...],
    since_hours: int,
    event_files: tuple[Path, ...],
    facts: tuple[Path, Path] | None,
    report: ReportOptions,
    connection: ConnectionSettings,
) -> None:
    """Explain the failed live migrations in the hosts' Hyper-V event logs.

    Live: read both hosts' VMMS and worker logs in the same single collection as 'check' and
    re-run the checks. Offline: --evtx FILE for each exported log (and --facts to rank causes).
    Each failure that names a VM on the source is judged by that VM's own checks, --vm or not.
    With --vm, only those VMs' failures are shown, and those that name no VM (the hosts').
    Exit codes: 0 no failures found, 1 failures found and explained, 2 usage error, 3 incomplete
    (also when a host's logs could not be read and nothing was found).
    """
    options = report
    if event_files:
        if hosts:
            raise UserError("give either SOURCE DESTINATION (live) or --evtx files, not both")
        sys.exit(_offline(event_files, facts, options))
    if len(hosts) != 2:
        raise UserError("diagnose needs SOURCE and DESTINATION host names, or --evtx FILE")

    def connect() -> CollectOptions:
        collect = collect_options(connection, options.vms, options.include_storage)
        return dataclasses.replace(collect, events_hours=since_hours)

    checked = live_check(hosts[0], hosts[1], options, connect, connection.quiet, "diagnose")
    unreachable = any(r.check_id == COLLECTION_CHECK_ID for r in checked.report.results)
    unread = [_events_unread(facts) for facts in (checked.source, checked.destination) if facts.events is None]
    for warning in unread:
        click.echo(f"lmpreflight: warning: {visible(warning)}", err=True)
    if unreachable or (unread and not checked.report.incidents):
        sys.exit(ExitCode.INCOMPLETE)  # "no failures" cannot be said of logs that were not read
    sys.exit(ExitCode.FOUND if checked.report.incidents else ExitCode.NOTHING_FOUND)


def _events_unread(facts: HostFacts) -> str:
    error = facts.error_for("events")
    reason = f" ({error.message})" if error is not None else ""
    return f"{facts.name}'s event logs could not be read{reason}: failed moves logged there are not shown"


# Report files that need no checks: the incidents alone can be written as JSON and Markdown.
WITHOUT_FACTS = ("json", "markdown")
# Report options that judge or report the hosts' checks: without --facts there are none.
NEEDS_FACTS = {
    "skip": "--skip",
    "strict": "--strict",
    "include_storage": "--include-storage",
    "move_from": "--move-from",
    "storage_path": "--storage-path",
    "verbose": "-v",
    "waivers_path": "--waivers",
}


def _read_files(files: tuple[Path, ...]) -> dict[str, list[EventRecord]]:
    by_host: dict[str, list[EventRecord]] = {}
    for path in files:
        export = read_event_export(path)
        for warning in export.warnings:
            click.echo(f"lmpreflight: warning: {warning}", err=True)
        by_host.setdefault(_host_label(path, export.events), []).extend(export.events)
    return by_host


def _hosts_differ(facts_hosts: tuple[str, ...], by_host: dict[str, list[EventRecord]]) -> str | None:
    """A warning when the events come from hosts the facts are not about."""
    known = {h.split(".")[0].casefold() for h in facts_hosts}
    logged = {label.split(".")[0].casefold() for label in by_host}
    if logged - known:
        return (
            f"the facts are for {', '.join(sorted(h.upper() for h in known))} but the events come from "
            f"{', '.join(sorted(h.upper() for h in logged))}: causes confirmed by the checks may be about other hosts"
        )
    return None


def _offline(files: tuple[Path, ...], facts: tuple[Path, Path] | None, options: ReportOptions) -> int:
    if facts is None:
        refused = [f"--{name}" for name in options.outputs if name not in WITHOUT_FACTS]
        refused += [
            flag
            for name, flag in NEEDS_FACTS.items()
            if getattr(options, name) and not (flag == "--include-storage" and options.storage_path is not None)
        ]
        if refused:
            raise UserError(
                f"{', '.join(refused)}: about the hosts' checks, which need the hosts' facts: with --evtx add "
                "--facts SOURCE.json DEST.json (without them, --json and --markdown write the failures found)"
            )
    by_host = _read_files(files)
    read = sum(len(events) for events in by_host.values())
    if facts is None:
        found = find_incidents(by_host, shown=concerning(options.vms))
        _report_incidents(Diagnosis(events_read=read, **dict(found)), options)
        return 1 if found.incidents else 0
    source, destination = load_fact_pair(*facts)
    warning = _hosts_differ((source.name, destination.name), by_host)
    if warning:
        click.echo(f"lmpreflight: warning: {warning}", err=True)
    registry, skip = load_registry(options)
    selection = options.selection(skip)
    results = evaluate(registry, source, destination, selection)
    incidents = explain_failures(by_host, source, destination, registry, selection, results)
    run_and_report(source, destination, options, "diagnose", registry, skip, incidents=incidents)
    return 1 if incidents.incidents else 0


def _report_incidents(diagnosis: Diagnosis, options: ReportOptions) -> None:
    """Without facts the diagnosis is the incidents: on stdout, and as JSON or Markdown files."""
    if options.output_format == "json":
        click.echo(diagnosis.model_dump_json(indent=2))
    else:
        render_incidents(diagnosis, make_console(stderr=False), options.vms)
    if options.json_path is not None:
        write_atomic(options.json_path, diagnosis.model_dump_json(indent=2) + "\n")
        click.echo(f"wrote {options.json_path}", err=True)
    if options.markdown_path is not None:
        write_atomic(options.markdown_path, incidents_markdown(diagnosis, options.vms))
        click.echo(f"wrote {options.markdown_path}", err=True)
