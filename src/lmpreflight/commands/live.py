"""Commands that talk to live hosts: check, collect, collector-script."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lmpreflight.collect.live import CollectOptions, collect_hosts
from lmpreflight.collect.script import render_collector
from lmpreflight.commands.common import ReportOptions, load_registry, options_from, report_options, run_and_report
from lmpreflight.commands.connection import HostProgress, collect_options, connection_options
from lmpreflight.errors import UserError
from lmpreflight.facts import save_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.report.model import Report

EXIT_INCOMPLETE = 3


def live_check(
    source: str,
    destination: str,
    options: ReportOptions,
    collect: CollectOptions,
    quiet: bool,
    command: str,
    facts_dir: Path | None = None,
) -> Report:
    """Collect both hosts in parallel, save their facts if asked, then check and report."""
    if source.casefold() == destination.casefold():
        raise UserError(f"source and destination are both {source}; name two different hosts")
    registry, skip = load_registry(options)
    if facts_dir is not None and not facts_dir.is_dir():
        raise UserError(f"--save-facts {facts_dir}: not a folder")
    with HostProgress([source, destination], quiet) as progress:
        source_facts, destination_facts = collect_hosts([source, destination], collect, progress.update, pair=True)
    if facts_dir is not None:
        for facts in (source_facts, destination_facts):
            path = facts_dir / f"{facts.name.lower()}.json"
            save_host_facts(facts, path)
            click.echo(f"wrote {path}", err=True)
    return run_and_report(
        source_facts,
        destination_facts,
        options,
        command,
        registry,
        skip,
        with_incidents=collect.events_hours is not None,
    )


@click.command()
@click.argument("source")
@click.argument("destination")
@report_options
@connection_options
@click.option(
    "--save-facts",
    "facts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also save both hosts' facts in this folder (for 'analyze' later).",
)
def check(source: str, destination: str, facts_dir: Path | None, **kwargs: Any) -> None:
    """Collect facts from SOURCE and DESTINATION over WinRM, LDAP and DNS, and check the move."""
    options = options_from(kwargs)
    collect, quiet = collect_options(kwargs, options.vms, options.include_storage)
    sys.exit(live_check(source, destination, options, collect, quiet, "check", facts_dir).exit_code)


@click.command()
@click.argument("host")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the host's facts (JSON).",
)
@connection_options
def collect(host: str, output: Path, **kwargs: Any) -> None:
    """Collect one host's facts into a file, for 'lmpreflight analyze' later.

    Exit code 0 when everything was collected, 3 when some section could not be.
    """
    options, quiet = collect_options(kwargs)
    with HostProgress([host], quiet) as progress:
        (facts,) = collect_hosts([host], options, progress.update)
    save_host_facts(facts, output)
    click.echo(f"wrote {output}", err=True)
    sys.exit(_report_collection(facts))


def _report_collection(facts: HostFacts) -> int:
    for error in facts.errors:
        hint = f" ({error.hint})" if error.hint else ""
        click.echo(f"lmpreflight: {facts.name}: {error.section}: {error.message}{hint}", err=True)
    return EXIT_INCOMPLETE if facts.errors else 0


@click.command("collector-script")
@click.option("--vm", "vms", multiple=True, metavar="NAME", help="A VM the move concerns (repeatable).")
def collector_script(vms: tuple[str, ...]) -> None:
    """Print the offline collector script, for hosts WinRM cannot reach.

    Run it on the host in an elevated PowerShell session:
    powershell -ExecutionPolicy Bypass -File collect.ps1 -OutFile HV01.json
    then copy the file here and run 'lmpreflight analyze'.
    """
    click.echo(render_collector(vms, mode="offline"), nl=False)
