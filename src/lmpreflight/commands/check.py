"""Commands that talk to live hosts: check, collect, collector-script."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from lmpreflight.collect.parallel import CollectOptions
from lmpreflight.collect.script import render_collector
from lmpreflight.commands.common import (
    ReportOptions,
    load_registry,
    refuse_blank,
    refuse_invalid_text,
    refuse_unwritable,
    report_options,
    run_and_report,
)
from lmpreflight.commands.connection import ConnectionSettings, HostProgress, collect_options, connection_options
from lmpreflight.errors import UserError
from lmpreflight.escape import visible
from lmpreflight.exit_codes import ExitCode
from lmpreflight.facts import save_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import UTF8_BOM, powershell_text, write_atomic
from lmpreflight.pipeline import collect_host, collect_pair
from lmpreflight.report.model import Report

_UNSAFE_FILE_CHARACTERS = re.compile(r"[^a-z0-9_-]+")


def facts_file_names(source: str, destination: str) -> tuple[str, str]:
    """File names for ``--save-facts``, made from the names the admin typed (never from what a
    host reports, which could hold ``../`` or an absolute path): the first label of each name
    (``hv01.json``), the whole name when that is not distinct or is an address, and the role
    in front when even those collide. Only ``[a-z0-9_-]`` survive, so the files stay in the folder."""

    def safe(text: str) -> str:
        return _UNSAFE_FILE_CHARACTERS.sub("_", text.casefold()).strip("_") or "host"

    short = (safe(source.split(".")[0]), safe(destination.split(".")[0]))
    if short[0] != short[1] and not any(name.isdigit() for name in short):
        return f"{short[0]}.json", f"{short[1]}.json"
    full = (safe(source), safe(destination))
    if full[0] != full[1]:
        return f"{full[0]}.json", f"{full[1]}.json"
    return f"source-{full[0]}.json", f"destination-{full[1]}.json"


@dataclasses.dataclass(frozen=True, slots=True)
class LiveRun:
    """A live check's report and the two hosts' facts it judged (diagnose reads their events)."""

    report: Report
    source: HostFacts
    destination: HostFacts

    @property
    def exit_code(self) -> int:
        return self.report.exit_code


def live_check(
    source: str,
    destination: str,
    options: ReportOptions,
    connect: Callable[[], CollectOptions],
    quiet: bool,
    command: str,
    facts_dir: Path | None = None,
) -> LiveRun:
    """Collect both hosts in parallel, save their facts if asked, then check and report.
    ``connect`` reads the password, so it is called only after every argument is checked."""
    refuse_blank("SOURCE", (source,))
    refuse_blank("DESTINATION", (destination,))
    if source.casefold() == destination.casefold():
        raise UserError(f"source and destination are both {source}; name two different hosts")
    registry, skip = load_registry(options)
    if facts_dir is not None and not facts_dir.is_dir():
        raise UserError(f"--save-facts {facts_dir}: not a folder")
    collect = connect()
    with HostProgress([source, destination], quiet) as progress:
        source_facts, destination_facts = collect_pair(source, destination, collect, progress.update)
    if facts_dir is not None:
        names = facts_file_names(source, destination)
        for facts, name in zip((source_facts, destination_facts), names, strict=True):
            path = facts_dir / name
            save_host_facts(facts, path)
            click.echo(f"wrote {path}", err=True)
    report = run_and_report(
        source_facts,
        destination_facts,
        options,
        command,
        registry,
        skip,
        with_incidents=collect.events_hours is not None,
    )
    return LiveRun(report, source_facts, destination_facts)


@click.command(short_help="Collect both hosts live and check the move.")
@click.argument("source")
@click.argument("destination")
@report_options
@connection_options
@click.option(
    "--save-facts",
    "facts_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also save both hosts' facts in this folder (for 'analyze' later).",
)
def check(
    source: str, destination: str, facts_dir: Path | None, report: ReportOptions, connection: ConnectionSettings
) -> None:
    """Collect facts from SOURCE and DESTINATION over WinRM, LDAP and DNS, and check the move.

    Name the hosts by FQDN (hv01.corp.example): the domain part finds the domain controller
    and the hosts' computer accounts.
    """

    def connect() -> CollectOptions:
        collect = collect_options(connection, report.vms, report.include_storage)
        return dataclasses.replace(collect, storage_path=report.storage_path)

    sys.exit(live_check(source, destination, report, connect, connection.quiet, "check", facts_dir).exit_code)


@click.command(short_help="Collect one host's facts into a file.")
@click.argument("host")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the host's facts (JSON).",
)
@connection_options
def collect(host: str, output: Path, connection: ConnectionSettings) -> None:
    """Collect one host's facts into a file, for 'lmpreflight analyze' later.

    Exit code 0 when everything was collected, 3 when some section could not be.
    """
    refuse_blank("HOST", (host,))
    refuse_unwritable(output)
    options = collect_options(connection)
    with HostProgress([host], connection.quiet) as progress:
        facts = collect_host(host, options, progress.update)
    save_host_facts(facts, output)
    click.echo(f"wrote {output}", err=True)
    click.echo(visible(collection_summary(facts)), err=True)
    sys.exit(_report_collection(facts))


SECTIONS = tuple(
    name
    for name in HostFacts.model_fields
    if name not in ("schema_version", "collected_at", "collector", "target", "errors")
)


def collection_summary(facts: HostFacts) -> str:
    """One line that tells the admin whether the file is worth copying: what the host runs,
    whether Hyper-V answers, how it authenticates moves, its VMs, and what is missing."""
    os = f"{facts.os.caption} (build {facts.os.build})" if facts.os else "OS not collected"
    hyperv = (
        f"Hyper-V vmms {facts.hyperv.vmms_status or 'state not reported'}"
        if facts.hyperv and facts.hyperv.role_installed
        else ("Hyper-V role not installed" if facts.hyperv else "Hyper-V not collected")
    )
    auth = (
        f"migration auth {facts.migration.authentication_type}"
        if facts.migration
        else "migration settings not collected"
    )
    vms = f"{len(facts.vms)} VM(s)" if facts.vms is not None else "VMs not collected"
    collected = sum(getattr(facts, name) is not None for name in SECTIONS)
    return f"{facts.name}: {os}; {hyperv}; {auth}; {vms}; {collected} section(s) collected, {len(facts.errors)} failed"


def _report_collection(facts: HostFacts) -> int:
    for error in facts.errors:
        hint = f" ({error.hint})" if error.hint else ""
        click.echo(visible(f"lmpreflight: {facts.name}: {error.section}: {error.message}{hint}"), err=True)
    return ExitCode.INCOMPLETE if facts.errors else ExitCode.READY


@click.command("collector-script", short_help="Print the offline collector, for hosts WinRM cannot reach.")
@click.option("--vm", "vms", multiple=True, metavar="NAME", help="A VM the move concerns (repeatable).")
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="NAME",
    help="The other host's name as the move will use it, for this host to resolve itself (repeatable; "
    "the script's -Peer parameter overrides it).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the script to this file (UTF-8 with a byte-order mark) instead of standard output.",
)
def collector_script(vms: tuple[str, ...], peers: tuple[str, ...], output: Path | None) -> None:
    """Print the offline collector script, for hosts WinRM cannot reach.

    Run it on the host in an elevated PowerShell session, then copy the file here and run
    'lmpreflight analyze':

    \b
      powershell -ExecutionPolicy Bypass -File collect.ps1 -OutFile HV01.json -Peer hv02.corp.example
    """
    refuse_invalid_text(vms)
    refuse_invalid_text(peers)
    refuse_blank("--vm", vms)
    refuse_blank("--peer", peers)
    script = powershell_text(render_collector(vms, mode="offline", peer_names=peers))
    if output is not None:
        write_atomic(output, script)
        click.echo(f"wrote {output}", err=True)
        return
    # Byte for byte (click.echo would strip escape sequences from names when piped); the
    # byte-order mark goes to a file or pipe, where it makes a saved .ps1 read as UTF-8.
    text = script if not sys.stdout.isatty() else script.removeprefix(UTF8_BOM)
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()
