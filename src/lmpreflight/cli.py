"""The command line. Every user mistake ends in one line on stderr and exit code 2.

Exit codes: 0 ready, 1 not ready, 2 usage error or unusable input, 3 incomplete.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from lmpreflight import __version__
from lmpreflight.errors import UserError
from lmpreflight.facts import facts_json_schema, load_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import write_atomic
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.catalogue import checks_markdown
from lmpreflight.report.html import render_html
from lmpreflight.report.json_report import render_json, report_json_schema
from lmpreflight.report.junit import render_junit
from lmpreflight.report.model import Report
from lmpreflight.report.text import render_text
from lmpreflight.resources import data_dir
from lmpreflight.runner import Selection, evaluate

EXIT_USAGE = 2
F = TypeVar("F", bound=Callable[..., Any])


def fail_usage(message: str) -> NoReturn:
    raise UserError(message)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    vms: tuple[str, ...]
    skip: tuple[str, ...]
    strict: bool
    include_storage: bool
    output_format: str
    json_path: Path | None
    html_path: Path | None
    junit_path: Path | None
    verbose: bool


def report_options(function: F) -> F:
    """The options ``analyze``, ``check`` and ``demo`` share."""
    decorators = [
        click.option("--vm", "vms", multiple=True, metavar="NAME", help="A VM to move (repeatable)."),
        click.option("--skip", multiple=True, metavar="CHECK_ID", help="Leave out a check (repeatable)."),
        click.option("--strict", is_flag=True, help="Treat warnings as blocking (exit 1)."),
        click.option("--include-storage", is_flag=True, help="The move takes the VM's storage along."),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="What to print on stdout.",
        ),
        click.option(
            "--json",
            "json_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the JSON report.",
        ),
        click.option(
            "--html",
            "html_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the HTML report.",
        ),
        click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML."),
        click.option("-v", "--verbose", is_flag=True, help="List passing results too."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def validate_skips(registry: Registry, skips: tuple[str, ...]) -> frozenset[str]:
    for skip in skips:
        if skip not in registry.checks:
            close = difflib.get_close_matches(skip, list(registry.checks), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "; 'lmpreflight checks' lists the ids"
            fail_usage(f"--skip {skip}: no check has this id{hint}")
    return frozenset(skips)


def make_console(stderr: bool) -> Console:
    """Rich output for people; unwrapped lines when piped, so logs and greps see whole lines."""
    console = Console(stderr=stderr)
    console.soft_wrap = not console.is_terminal
    return console


def run_and_report(
    source: HostFacts, destination: HostFacts, options: ReportOptions, command: str, console: Console
) -> int:
    registry = load_checks()
    for error in registry.load_errors:
        click.echo(f"lmpreflight: warning: plugin '{error.name}' failed to load: {error.error}", err=True)
    selection = Selection(
        vms=options.vms, skip=validate_skips(registry, options.skip), include_storage=options.include_storage
    )
    results = evaluate(registry, source, destination, selection)
    report = build_report(
        results,
        source,
        destination,
        selection,
        RunInfo(command=command, run_from=socket.gethostname(), strict=options.strict),
    )
    write_reports(report, options, console)
    return report.exit_code


def write_reports(report: Report, options: ReportOptions, console: Console) -> None:
    outputs: list[tuple[Path | None, Callable[[Report], str]]] = [
        (options.json_path, render_json),
        (options.html_path, render_html),
        (options.junit_path, render_junit),
    ]
    if options.output_format == "json":
        sys.stdout.write(render_json(report))
    else:
        render_text(report, console, verbose=options.verbose)
    for path, render in outputs:
        if path is not None:
            write_atomic(path, render(report))
            click.echo(f"wrote {path}", err=True)


def options_from(kwargs: dict[str, Any]) -> ReportOptions:
    return ReportOptions(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(ReportOptions)})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmpreflight")
def cli() -> None:
    """Preflight checks and failure diagnosis for Hyper-V live migration between standalone hosts.

    Exit codes: 0 ready, 1 not ready, 2 usage error or unusable input, 3 incomplete.
    """


@cli.command("checks")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
def list_checks(output_format: str) -> None:
    """List the registered checks: id, title, category, severity (markdown: the full catalogue)."""
    registry = load_checks()
    checks = registry.sorted()
    if output_format == "markdown":
        click.echo(checks_markdown(checks), nl=False)
    elif output_format == "json":
        rows = [
            {
                "id": c.id,
                "title": c.title,
                "category": c.category.value,
                "severity": c.severity.value,
                "needs": list(c.needs),
                "references": list(c.references),
            }
            for c in checks
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        for c in checks:
            click.echo(f"{c.id:<44} {c.severity.value:<9} {c.category.value:<11} {c.title}")
    for error in registry.load_errors:
        click.echo(f"lmpreflight: warning: plugin '{error.name}' failed to load: {error.error}", err=True)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("destination", type=click.Path(path_type=Path))
@report_options
def analyze(source: Path, destination: Path, **kwargs: Any) -> None:
    """Check a pair from saved fact files (SOURCE.json DEST.json)."""
    options = options_from(kwargs)
    source_facts = load_host_facts(source)
    destination_facts = load_host_facts(destination)
    console = make_console(stderr=options.output_format == "json")
    sys.exit(run_and_report(source_facts, destination_facts, options, "analyze", console))


@cli.command()
@report_options
def demo(**kwargs: Any) -> None:
    """Analyse the built-in example pair (a 2016 host drained to 2022, with several problems)."""
    options = options_from(kwargs)
    options = dataclasses.replace(
        options,
        vms=options.vms or ("LEGACY01", "WEB02"),
        html_path=options.html_path or Path("report.html"),
        json_path=options.json_path or Path("report.json"),
    )
    examples = data_dir("examples") / "facts" / "broken"
    console = make_console(stderr=options.output_format == "json")
    code = run_and_report(
        load_host_facts(examples / "source.json"),
        load_host_facts(examples / "destination.json"),
        options,
        "demo",
        console,
    )
    sys.exit(code)


@cli.command()
@click.argument("document", type=click.Choice(["report", "facts"]))
def schema(document: str) -> None:
    """Print the JSON Schema of the JSON report or of a host-facts file."""
    click.echo(report_json_schema() if document == "report" else facts_json_schema(), nl=False)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("lmpreflight: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"lmpreflight: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("lmpreflight: interrupted", err=True)
        sys.exit(130)
