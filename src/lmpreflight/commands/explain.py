"""explain: the cause and the fix for a failed migration's error text."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lmpreflight.commands.common import load_fact_pair, make_console
from lmpreflight.errors import UserError
from lmpreflight.exit_codes import ExitCode
from lmpreflight.explain.engine import MAX_TEXT, FactsContext, explain_text
from lmpreflight.explain.names import vm_names_in
from lmpreflight.explain.render import render_explanation
from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate


def decode_input(raw: bytes) -> str:
    """Text from whatever was pasted or piped: UTF-8, or UTF-16 as Windows tools write it."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", "replace")
    if len(raw) > 3 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00":
        return raw.decode("utf-16-le", "replace")
    return raw.decode("utf-8-sig", "replace")


def read_text(words: tuple[str, ...]) -> str:
    if words == ("-",):
        raw = sys.stdin.buffer.read(MAX_TEXT + 1)
        text = decode_input(raw)
    else:
        text = " ".join(words)
    if not text.strip():
        raise UserError("no error text: give a code (0x8009030E), the message in quotes, or '-' to read standard input")
    return text


def vms_named(text: str, source: HostFacts) -> tuple[str, ...]:
    """The VMs the error text names that exist on the source, so their checks run too."""
    names = {name.casefold() for name in vm_names_in(text[:100_000])}
    return tuple(vm.name for vm in source.vms or [] if vm.name.casefold() in names)


def check_results(facts: tuple[Path, Path], text: str = "") -> FactsContext:
    """The checks' results on two saved hosts (with the VMs ``text`` names), the source's
    authentication protocol and the hosts' names: what ranks the causes."""
    source, destination = load_fact_pair(*facts)
    selection = Selection(vms=vms_named(text, source))
    results = evaluate(load_checks(), source, destination, selection)
    auth = source.migration.authentication_type if source.migration else None
    return FactsContext(results, auth, (source.full_name, destination.full_name))


facts_option = click.option(
    "--facts",
    nargs=2,
    type=click.Path(path_type=Path),
    metavar="SOURCE.json DEST.json",
    help="Rank the causes with what the two hosts' saved facts say.",
)


@click.command(
    short_help="Explain a failed move from its error text or code.", context_settings={"ignore_unknown_options": True}
)
@click.argument("text", nargs=-1, required=True)
@facts_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the explanation as JSON (schema: 'lmpreflight schema explanation')."
)
@click.option("--all", "show_all", is_flag=True, help="Show every cause, not only the most likely three.")
def explain(text: tuple[str, ...], facts: tuple[Path, Path] | None, as_json: bool, show_all: bool) -> None:
    """Explain a failed live migration from its error text, a code, or '-' for standard input.

    Exit codes: 0 explained, 1 nothing recognised, 2 usage error or unusable input.
    """
    content = read_text(text)
    context = check_results(facts, content) if facts else None
    explanation = (
        explain_text(content, context.results, context.source_auth, context.hosts) if context else explain_text(content)
    )
    if as_json:
        click.echo(explanation.model_dump_json(indent=2))
    else:
        render_explanation(explanation, make_console(stderr=False), show_all=show_all)
    sys.exit(ExitCode.EXPLAINED if explanation.recognised else ExitCode.NOT_RECOGNISED)
