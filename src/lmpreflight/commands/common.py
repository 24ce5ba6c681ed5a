"""What the reporting commands (analyze, check, demo) share: options, the run, the outputs."""

from __future__ import annotations

import dataclasses
import difflib
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from lmpreflight.errors import UserError
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.explain.model import Incident
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import powershell_text, write_atomic
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.fixscript import render_fix_script
from lmpreflight.report.html import render_html
from lmpreflight.report.json_report import render_json
from lmpreflight.report.junit import render_junit
from lmpreflight.report.markdown import render_markdown
from lmpreflight.report.model import Report
from lmpreflight.report.text import render_text
from lmpreflight.report.waivers import Waiver, load_waivers
from lmpreflight.runner import Selection, evaluate, vm_readiness
from lmpreflight.terminal import SafeConsole
from lmpreflight.vocabulary import MoveFrom

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ReportOptions:
    vms: tuple[str, ...]
    skip: tuple[str, ...]
    strict: bool
    include_storage: bool
    move_from: MoveFrom | None
    storage_path: str | None
    output_format: str
    json_path: Path | None
    html_path: Path | None
    junit_path: Path | None
    fix_script_path: Path | None
    markdown_path: Path | None
    verbose: bool
    waivers_path: Path | None
    waivers: tuple[Waiver, ...] = ()


def apply(decorators: list[Callable[[F], F]], function: F) -> F:
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def report_options(function: F) -> F:
    """The options ``analyze``, ``check`` and ``demo`` share."""
    path = click.Path(dir_okay=False, path_type=Path)
    return apply(
        [
            click.option("--vm", "vms", multiple=True, metavar="NAME", help="A VM to move (repeatable)."),
            click.option("--skip", multiple=True, metavar="CHECK_ID", help="Leave out a check (repeatable)."),
            click.option("--strict", is_flag=True, help="Treat warnings as blocking (exit 1)."),
            click.option("--include-storage", is_flag=True, help="The move takes the VM's storage along."),
            click.option(
                "--storage-path",
                metavar="PATH",
                help="The destination storage path the move will use (Move-VM -DestinationStoragePath); "
                "implies --include-storage. Default: the destination's default virtual hard disk path.",
            ),
            click.option(
                "--move-from",
                type=click.Choice(["source", "remote"]),
                help="Where the move will be started: in a session on the source host, or from another machine "
                "(Hyper-V Manager, Move-VM -ComputerName). Default: as the setup guide says for the protocol "
                "(CredSSP: source; Kerberos: remote).",
            ),
            click.option(
                "--format",
                "output_format",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="What to print on stdout.",
            ),
            click.option("--json", "json_path", type=path, help="Write the JSON report."),
            click.option("--html", "html_path", type=path, help="Write the HTML report."),
            click.option("--junit", "junit_path", type=path, help="Write JUnit XML."),
            click.option(
                "--fix-script",
                "fix_script_path",
                type=path,
                help="Write a PowerShell script that fixes what can be fixed safely (plan first, -Apply to change).",
            ),
            click.option(
                "--markdown", "markdown_path", type=path, help="Write a short Markdown summary for a change ticket."
            ),
            click.option(
                "-v", "--verbose", is_flag=True, help="List every result (passes and not-applicable ones too)."
            ),
            click.option(
                "--waivers",
                "waivers_path",
                type=path,
                metavar="FILE",
                help="Accepted risks (YAML: check, subject, reason, expires, by): shown as accepted, not counted.",
            ),
        ],
        function,
    )


def options_from(kwargs: dict[str, Any]) -> ReportOptions:
    """Take the report options out of a command's keyword arguments."""
    options = ReportOptions(
        **{f.name: kwargs.pop(f.name) for f in dataclasses.fields(ReportOptions) if f.name != "waivers"}
    )
    if options.storage_path is not None:
        # Move-VM takes -DestinationStoragePath only with -IncludeStorage.
        options = dataclasses.replace(options, include_storage=True)
    for name in (*options.vms, *options.skip):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{name.encode('utf-8', 'replace').decode()}: not valid text (check the terminal's encoding)"
            ) from None
    # Refuse an output nobody can write before any slow collection starts.
    outputs = (options.json_path, options.html_path, options.junit_path, options.fix_script_path, options.markdown_path)
    for path in outputs:
        if path is not None and not path.parent.is_dir():
            raise UserError(f"cannot write {path}: the folder {path.parent} does not exist")
    if options.waivers_path is not None:
        known = set(load_checks().checks)
        options = dataclasses.replace(options, waivers=tuple(load_waivers(options.waivers_path, known)))
    return options


def validate_skips(registry: Registry, skips: tuple[str, ...]) -> frozenset[str]:
    for skip in skips:
        if skip not in registry.checks:
            close = difflib.get_close_matches(skip, list(registry.checks), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "; 'lmpreflight checks' lists the ids"
            raise UserError(f"--skip {skip}: no check has this id{hint}")
    return frozenset(skips)


def make_console(stderr: bool) -> Console:
    """Rich output for people; unwrapped lines when piped, so logs and greps see whole lines."""
    console = SafeConsole(stderr=stderr)
    console.soft_wrap = not console.is_terminal
    return console


def load_registry(options: ReportOptions) -> tuple[Registry, frozenset[str]]:
    """The checks, with --skip validated before any slow work starts."""
    registry = load_checks()
    for error in registry.load_errors:
        click.echo(f"lmpreflight: warning: plugin '{error.name}' failed to load: {error.error}", err=True)
    return registry, validate_skips(registry, options.skip)


def run_and_report(
    source: HostFacts,
    destination: HostFacts,
    options: ReportOptions,
    command: str,
    registry: Registry | None = None,
    skip: frozenset[str] | None = None,
    with_incidents: bool = False,
    incidents: list[Incident] | None = None,
) -> Report:
    """Check the pair and write every report asked for; with ``with_incidents``, explain the
    failures in the hosts' events too; ``incidents`` found elsewhere (exported logs) are reported as given."""
    if registry is None or skip is None:
        registry, skip = load_registry(options)
    selection = Selection(
        vms=options.vms,
        skip=skip,
        include_storage=options.include_storage,
        move_from=options.move_from,
        storage_path=options.storage_path,
    )
    results = evaluate(registry, source, destination, selection)
    if with_incidents:
        auth = source.migration.authentication_type if source.migration else None
        incidents = find_incidents(
            {source.name: source.events or [], destination.name: destination.events or []},
            results,
            auth,
            (source.name, destination.name),
        )
    readiness = None if options.vms else vm_readiness(registry, source, destination, selection)
    report = build_report(
        results,
        source,
        destination,
        selection,
        RunInfo(command=command, run_from=socket.gethostname(), strict=options.strict),
        incidents,
        readiness,
        list(options.waivers),
    )
    write_reports(report, options)
    return report


def write_reports(report: Report, options: ReportOptions) -> None:
    if options.output_format == "json":
        sys.stdout.write(render_json(report))
    else:
        render_text(report, make_console(stderr=False), verbose=options.verbose)
    outputs: list[tuple[Path | None, Callable[[Report], str]]] = [
        (options.json_path, render_json),
        (options.html_path, render_html),
        (options.junit_path, render_junit),
        (options.fix_script_path, lambda r: powershell_text(render_fix_script(r))),
        (options.markdown_path, render_markdown),
    ]
    for path, render in outputs:
        if path is not None:
            write_atomic(path, render(report))
            click.echo(f"wrote {path}", err=True)
