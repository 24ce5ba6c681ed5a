"""What the reporting commands (analyze, check, demo) share: options, the run, the outputs."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console

from lmpreflight.errors import UserError
from lmpreflight.explain.model import IncidentsFound
from lmpreflight.facts import load_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import is_special, write_atomic
from lmpreflight.pipeline import check_pair
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.formats import FORMATS
from lmpreflight.report.json_report import render_json
from lmpreflight.report.model import Report
from lmpreflight.report.text import render_text
from lmpreflight.report.waivers import Waiver, load_waivers
from lmpreflight.runner import Selection
from lmpreflight.terminal import SafeConsole
from lmpreflight.vocabulary import MoveFrom

F = TypeVar("F", bound=Callable[..., Any])
stdout_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="What to print on stdout.",
)
"""``--format text|json``: what a reporting command (check, analyze, demo, diagnose, plan) prints."""


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The report options of ``analyze``, ``check``, ``demo`` and ``diagnose``, parsed and checked."""

    vms: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    strict: bool = False
    include_storage: bool = False
    move_from: MoveFrom | None = None
    storage_path: str | None = None
    output_format: str = "text"
    outputs: Mapping[str, Path] = field(default_factory=dict)
    """Report files to write, by format name (see ``report.formats.FORMATS``)."""
    verbose: bool = False
    waivers_path: Path | None = None
    waivers: tuple[Waiver, ...] = ()

    def output(self, name: str) -> Path | None:
        return self.outputs.get(name)

    @property
    def json_path(self) -> Path | None:
        return self.output("json")

    @property
    def html_path(self) -> Path | None:
        return self.output("html")

    @property
    def markdown_path(self) -> Path | None:
        return self.output("markdown")

    def selection(self, skip: frozenset[str]) -> Selection:
        return Selection(
            vms=self.vms,
            skip=skip,
            include_storage=self.include_storage,
            move_from=self.move_from,
            storage_path=self.storage_path,
        )


def apply(decorators: list[Callable[[F], F]], function: F) -> F:
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _option_name(format_name: str) -> str:
    return f"{format_name.replace('-', '_')}_path"


def report_options(function: F) -> F:
    """The options ``analyze``, ``check``, ``demo`` and ``diagnose`` share; the command receives
    them as one checked ``report: ReportOptions`` argument."""
    path = click.Path(dir_okay=False, path_type=Path)
    names = ("vms", "skip", "strict", "include_storage", "storage_path", "move_from", "output_format", "verbose")

    @functools.wraps(function)
    def with_report_options(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names}
        outputs = {f.name: kwargs.pop(_option_name(f.name)) for f in FORMATS}
        kwargs["report"] = report_options_from(
            ReportOptions(
                **values,
                outputs={name: where for name, where in outputs.items() if where is not None},
                waivers_path=kwargs.pop("waivers_path"),
            )
        )
        return function(*args, **kwargs)

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
            stdout_format_option,
            *(click.option(f"--{f.name}", _option_name(f.name), type=path, help=f.help) for f in FORMATS),
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
        cast(F, with_report_options),
    )


def refuse_invalid_text(names: tuple[str, ...]) -> None:
    """Names typed in a terminal whose encoding is not UTF-8 arrive with lone surrogates; they
    can be neither matched nor written into a script, so they end in one line, not a crash."""
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{name.encode('utf-8', 'replace').decode()}: not valid text (check the terminal's encoding)"
            ) from None


def refuse_blank(option: str, values: Iterable[str]) -> None:
    """An empty name names nothing (most often a shell variable that was never set): refused in
    one line before any slow work, never sent to a host or written into a script."""
    for value in values:
        if not value.strip():
            raise UserError(f"{option}: the value is empty (an unset shell variable?); give a name")


def refuse_unwritable(path: Path) -> None:
    """Refuse an output nobody can write before any slow collection starts: a missing or
    read-only folder, a folder named as the file. A device or FIFO is written into later."""
    if is_special(path):
        return
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None


def report_options_from(options: ReportOptions) -> ReportOptions:
    """The options as given, checked before any slow work starts, with the waivers read."""
    if options.storage_path is not None:
        # Move-VM takes -DestinationStoragePath only with -IncludeStorage.
        options = dataclasses.replace(options, include_storage=True)
    refuse_invalid_text((*options.vms, *options.skip))
    refuse_blank("--vm", options.vms)
    refuse_blank("--storage-path", () if options.storage_path is None else (options.storage_path,))
    for path in options.outputs.values():
        refuse_unwritable(path)
    if options.waivers_path is not None:
        known = set(load_checks().checks)
        options = dataclasses.replace(options, waivers=tuple(load_waivers(options.waivers_path, known)))
    return options


def load_fact_pair(source: Path, destination: Path) -> tuple[HostFacts, HostFacts]:
    """Two saved hosts as SOURCE and DESTINATION; the same machine twice is a mistake (a move
    needs two hosts), refused rather than judged."""
    source_facts, destination_facts = load_host_facts(source), load_host_facts(destination)
    if _identity(source_facts) == _identity(destination_facts):
        raise UserError(
            f"{source} and {destination} both describe {source_facts.name}: a move needs two different hosts"
        )
    return source_facts, destination_facts


def _identity(facts: HostFacts) -> str:
    """Which machine a fact file describes: its FQDN when known, else the name it was collected by."""
    return (facts.identity.fqdn if facts.identity else facts.target).casefold()


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


def loaded_checks() -> Registry:
    """Every check, built-in and plugin, with a warning for each plugin that failed to load."""
    registry = load_checks()
    for error in registry.load_errors:
        click.echo(f"lmpreflight: warning: plugin '{error.name}' failed to load: {error.error}", err=True)
    return registry


def load_registry(options: ReportOptions) -> tuple[Registry, frozenset[str]]:
    """The checks, with --skip validated before any slow work starts."""
    registry = loaded_checks()
    return registry, validate_skips(registry, options.skip)


def run_and_report(
    source: HostFacts,
    destination: HostFacts,
    options: ReportOptions,
    command: str,
    registry: Registry | None = None,
    skip: frozenset[str] | None = None,
    with_incidents: bool = False,
    incidents: IncidentsFound | None = None,
) -> Report:
    """Check the pair (see :func:`lmpreflight.pipeline.check_pair`) and write every report asked for."""
    if registry is None or skip is None:
        registry, skip = load_registry(options)
    report = check_pair(
        source,
        destination,
        options.selection(skip),
        registry=registry,
        strict=options.strict,
        events=with_incidents,
        incidents=incidents,
        waivers=options.waivers,
        command=command,
    )
    write_reports(report, options)
    return report


def write_reports(report: Report, options: ReportOptions) -> None:
    if options.output_format == "json":
        sys.stdout.write(render_json(report))
    else:
        render_text(report, make_console(stderr=False), verbose=options.verbose)
    for output in FORMATS:
        path = options.output(output.name)
        if path is not None:
            write_atomic(path, output.render(report))
            click.echo(f"wrote {path}", err=True)
