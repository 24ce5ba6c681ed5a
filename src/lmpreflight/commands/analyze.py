"""Commands that work on saved facts and on the catalogue: analyze, checks, schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lmpreflight.commands.common import (
    ReportOptions,
    load_fact_pair,
    load_registry,
    loaded_checks,
    report_options,
    run_and_report,
)
from lmpreflight.explain.engine import explanation_json_schema
from lmpreflight.facts import facts_json_schema
from lmpreflight.fleet.document import plan_json_schema
from lmpreflight.report.catalogue import checks_json, checks_markdown, checks_text
from lmpreflight.report.json_report import report_json_schema


@click.command("checks", short_help="List the registered checks.")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
def list_checks(output_format: str) -> None:
    """List the registered checks: id, title, category, severity (markdown: the full catalogue)."""
    render = {"markdown": checks_markdown, "json": checks_json, "text": checks_text}[output_format]
    click.echo(render(loaded_checks().sorted()), nl=False)


@click.command(short_help="Check a pair from two saved fact files.")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("destination", type=click.Path(path_type=Path))
@report_options
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Accepted like check's and demo's, so one script can run any of them; analyze shows no progress.",
)
def analyze(source: Path, destination: Path, report: ReportOptions, quiet: bool) -> None:
    """Check a pair from saved fact files (SOURCE.json DEST.json).

    The files come from 'lmpreflight collect' or from the offline collector script.
    """
    del quiet  # reading two files needs no progress display
    registry, skip = load_registry(report)
    source_facts, destination_facts = load_fact_pair(source, destination)
    sys.exit(run_and_report(source_facts, destination_facts, report, "analyze", registry, skip).exit_code)


@click.command(short_help="Print the JSON Schema of a document lmpreflight writes.")
@click.argument("document", type=click.Choice(["report", "facts", "explanation", "plan"]))
def schema(document: str) -> None:
    """Print the JSON Schema of the JSON report, a host-facts file, 'explain --json' or 'plan --json'."""
    schemas = {
        "report": report_json_schema,
        "facts": facts_json_schema,
        "explanation": explanation_json_schema,
        "plan": plan_json_schema,
    }
    click.echo(schemas[document](), nl=False)
