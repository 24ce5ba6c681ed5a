"""diagnose: find the failed moves in the hosts' Hyper-V event logs and explain each one."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict

from lmpreflight.commands.common import make_console, options_from, report_options
from lmpreflight.commands.connection import collect_options, connection_options
from lmpreflight.commands.explain import check_results, facts_option
from lmpreflight.commands.live import live_check
from lmpreflight.errors import UserError
from lmpreflight.explain.events import find_incidents, read_event_file
from lmpreflight.explain.model import Incident
from lmpreflight.explain.render import render_incidents
from lmpreflight.facts.model import EventRecord
from lmpreflight.runner import COLLECTION_CHECK_ID

_SINCE = re.compile(r"^(\d+)\s*([hd])$", re.IGNORECASE)
MAX_HOURS = 24 * 31
EXIT_INCOMPLETE = 3


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
    """What 'diagnose --evtx' prints with --format json when no host facts are given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    events_read: int
    incidents: list[Incident]


def _host_label(path: Path, events: list[EventRecord]) -> str:
    computers = {e.computer for e in events if e.computer}
    return sorted(computers)[0].split(".")[0].upper() if len(computers) == 1 else path.stem


@click.command()
@click.argument("hosts", nargs=-1, metavar="[SOURCE DESTINATION]")
@click.option("--since", default="24h", show_default=True, help="How far back to read the event logs (live).")
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
    hosts: tuple[str, ...], since: str, event_files: tuple[Path, ...], facts: tuple[Path, Path] | None, **kwargs: Any
) -> None:
    """Explain the failed live migrations in the hosts' Hyper-V event logs.

    Live: read both hosts' VMMS and worker logs in the same single collection as 'check' and
    re-run the checks. Offline: --evtx FILE for each exported log (and --facts to rank causes).
    Exit codes: 0 no failures found, 1 failures found and explained, 2 usage error, 3 incomplete.
    """
    options = options_from(kwargs)
    if event_files:
        if hosts:
            raise UserError("give either SOURCE DESTINATION (live) or --evtx files, not both")
        sys.exit(_offline(event_files, facts, options.output_format, options.html_path or options.json_path))
    if len(hosts) != 2:
        raise UserError("diagnose needs SOURCE and DESTINATION host names, or --evtx FILE")
    collect, quiet = collect_options(kwargs, options.vms, options.include_storage)
    collect = dataclasses.replace(collect, events_hours=parse_since(since))
    report = live_check(hosts[0], hosts[1], options, collect, quiet, "diagnose")
    unreachable = any(r.check_id == COLLECTION_CHECK_ID for r in report.results)
    sys.exit(EXIT_INCOMPLETE if unreachable else (1 if report.incidents else 0))


def _offline(
    files: tuple[Path, ...], facts: tuple[Path, Path] | None, output_format: str, report_path: Path | None
) -> int:
    if report_path is not None and facts is None:
        raise UserError("--json/--html need the hosts' facts with --evtx (add --facts SOURCE.json DEST.json)")
    by_host: dict[str, list[EventRecord]] = {}
    for path in files:
        events = read_event_file(path)
        by_host.setdefault(_host_label(path, events), []).extend(events)
    results, auth = check_results(facts) if facts is not None else (None, None)
    incidents = find_incidents(by_host, results, auth)
    read = sum(len(events) for events in by_host.values())
    if output_format == "json":
        click.echo(Diagnosis(events_read=read, incidents=incidents).model_dump_json(indent=2))
    else:
        render_incidents(incidents, make_console(stderr=False), read)
    return 1 if incidents else 0
