"""``lmpreflight plan``: where can each VM go — one source drained, or a whole estate."""

from __future__ import annotations

import dataclasses
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lmpreflight.collect.parallel import CollectOptions
from lmpreflight.commands.common import (
    make_console,
    refuse_blank,
    refuse_unwritable,
    stdout_format_option,
    validate_skips,
)
from lmpreflight.commands.connection import ConnectionSettings, collect_options, connection_options
from lmpreflight.errors import UserError
from lmpreflight.facts import load_host_facts, save_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.fileio import write_atomic
from lmpreflight.fleet.collect import collect_inventory
from lmpreflight.fleet.document import PlanInfo, plan_json_chunks
from lmpreflight.fleet.formats import PLAN_FORMATS
from lmpreflight.fleet.inventory import InventoryHost, load_inventory
from lmpreflight.fleet.placement import PlacementMatrix, build_matrix, workers_for
from lmpreflight.fleet.progress import FleetProgress
from lmpreflight.fleet.render import render_plan_text
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection

SAFE_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """Which hosts to judge and how: what the command line asked for."""

    source: str | None
    destinations: tuple[str, ...]
    inventory: Path | None
    limit: str | None
    all_pairs: bool
    facts_dir: Path | None
    save_facts: Path | None
    vms: tuple[str, ...]
    skip: tuple[str, ...]
    strict: bool
    include_storage: bool
    output_format: str
    outputs: dict[str, Path]
    """Files to write, by format name (see ``fleet.formats.PLAN_FORMATS``)."""
    verbose: bool
    quiet: bool


@dataclass(frozen=True, slots=True)
class Roles:
    """The hosts that lose VMs and those that may receive them, by the names shown."""

    sources: list[str]
    destinations: list[str]


def plan_options(function: Callable[..., Any]) -> Callable[..., Any]:
    path = click.Path(dir_okay=False, path_type=Path)
    folder = click.Path(file_okay=False, path_type=Path)
    for option in reversed(
        [
            click.argument("source", required=False),
            click.option("--to", "destinations", multiple=True, metavar="HOST", help="A destination (repeatable)."),
            click.option(
                "--inventory",
                type=click.Path(path_type=Path),
                help="Hosts from an Ansible inventory (INI, YAML or folder), a plain list, or a CSV export.",
            ),
            click.option("--limit", metavar="PATTERN", help="Only these inventory hosts (an Ansible host pattern)."),
            click.option(
                "--all-pairs", is_flag=True, help="Every host is a source and a destination (the full matrix)."
            ),
            click.option(
                "--facts-dir",
                type=folder,
                metavar="DIR",
                help="Judge the fact files in this folder (from 'collect', --save-facts or the Ansible playbook); "
                "nothing is collected.",
            ),
            click.option(
                "--save-facts", type=folder, metavar="DIR", help="Also save every host's facts in this folder."
            ),
            click.option(
                "--vm", "vms", multiple=True, metavar="NAME", help="Only this VM of the sources (repeatable)."
            ),
            click.option("--skip", multiple=True, metavar="CHECK_ID", help="Leave out a check (repeatable)."),
            click.option("--strict", is_flag=True, help="Warnings block too."),
            click.option("--include-storage", is_flag=True, help="The moves take the VMs' storage along."),
            stdout_format_option,
            *(click.option(f"--{f.name}", f"output_{f.name}", type=path, help=f.help) for f in PLAN_FORMATS),
            click.option("-v", "--verbose", is_flag=True, help="List each host's warnings too."),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 256),
                default=16,
                show_default=True,
                help="Hosts collected at once.",
            ),
        ]
    ):
        function = option(function)
    return function


@click.command(short_help="Where can each VM go: check many hosts at once.")
@plan_options
@connection_options
def plan(concurrency: int, connection: ConnectionSettings, **kwargs: Any) -> None:
    """Where can each VM go: collect every host once and judge every (source, destination) pair.

    \b
    lmpreflight plan HV01 --to HV02 --to HV03 --user 'CORP\\admin'    drain HV01
    lmpreflight plan HV01 --inventory hosts.ini --limit hyperv         to every inventory host
    lmpreflight plan --inventory hosts.ini --all-pairs --html plan.html
    lmpreflight plan --facts-dir facts/ --all-pairs                   fact files collected elsewhere

    For each VM: the destinations that can take it now, after named fixes, and not at all
    (with the blocking checks). Exit code 0 when every VM can move somewhere now, 1 when some
    VM cannot, 3 when that is unknown for some VM or a source's VMs could not be read, 2 for a
    usage error.
    """
    request = _request(kwargs, connection.quiet)
    sys.exit(run_plan(request, lambda: _collect_options(connection, request, concurrency), "plan").exit_code)


def _request(kwargs: dict[str, Any], quiet: bool) -> PlanRequest:
    outputs = {f.name: kwargs.pop(f"output_{f.name}") for f in PLAN_FORMATS}
    names = PlanRequest.__dataclass_fields__
    values = {name: kwargs.pop(name) for name in names if name in kwargs and name not in ("quiet", "outputs")}
    request = PlanRequest(quiet=quiet, outputs={k: v for k, v in outputs.items() if v is not None}, **values)
    refuse_blank("SOURCE", () if request.source is None else (request.source,))
    refuse_blank("--to", request.destinations)
    refuse_blank("--vm", request.vms)
    for path in request.outputs.values():
        refuse_unwritable(path)
    if request.save_facts is not None and not request.save_facts.is_dir():
        raise UserError(f"--save-facts {request.save_facts}: not a folder")
    if request.facts_dir is not None and (request.inventory is not None or request.save_facts is not None):
        raise UserError("--facts-dir judges saved facts: it goes without --inventory and --save-facts")
    if request.source is None and not request.all_pairs:
        raise UserError("name the SOURCE host to drain, or use --all-pairs for the whole matrix")
    if request.facts_dir is None and request.inventory is None and not request.destinations:
        raise UserError("no destination: add --to HOST (repeatable) or --inventory FILE")
    return request


def _collect_options(connection: ConnectionSettings, request: PlanRequest, concurrency: int) -> CollectOptions:
    options = collect_options(connection, request.vms, request.include_storage)
    return dataclasses.replace(options, concurrency=concurrency)


def run_plan(
    request: PlanRequest,
    connect: Callable[[], CollectOptions],
    command: str,
    hosts: list[InventoryHost] | None = None,
) -> PlacementMatrix:
    """Hosts → facts (collected once each, or read) → every pair judged → the reports.
    ``hosts`` replaces the hosts the request names (the demo passes the lab's)."""
    registry = load_checks()
    for error in registry.load_errors:
        click.echo(f"lmpreflight: warning: plugin '{error.name}' failed to load: {error.error}", err=True)
    skip = validate_skips(registry, request.skip)
    if request.facts_dir is not None:
        facts = _read_facts_dir(request.facts_dir)
    else:
        hosts = hosts or _hosts(request)
        unverified = [host.name for host in hosts if host.verify is False]
        if unverified:
            click.echo(
                f"lmpreflight: warning: TLS certificates are not verified for {len(unverified)} host(s) "
                f"({', '.join(unverified[:5])}{' …' if len(unverified) > 5 else ''}): the inventory says "
                "server_cert_validation=ignore",
                err=True,
            )
        options = connect()
        with FleetProgress(len(hosts), request.quiet) as progress:
            facts = collect_inventory(hosts, options, progress.collected)
        if request.save_facts is not None:
            _save(facts, request.save_facts)
    roles = _roles(request, facts)
    selection = Selection(vms=request.vms, skip=skip, include_storage=request.include_storage)
    workers = workers_for(len(roles.sources) * len(roles.destinations))
    with FleetProgress(len(roles.sources), request.quiet, "Judging sources") as progress:
        matrix = build_matrix(
            registry, facts, roles.sources, roles.destinations, selection, request.strict, progress.judged, workers
        )
    _missing_vms(request, matrix, facts, roles)
    info = PlanInfo(
        command=command,
        run_from=socket.gethostname(),
        generated_at=datetime.now(UTC),
        include_storage=request.include_storage,
        vms=request.vms,
        skipped_checks=tuple(sorted(skip)),
    )
    _write(matrix, info, request)
    return matrix


def _hosts(request: PlanRequest) -> list[InventoryHost]:
    """The command line's hosts and the inventory's, each once; a host named on the command
    line takes its connection settings from the inventory when it is listed there."""
    listed = load_inventory(request.inventory, request.limit) if request.inventory is not None else []
    by_name = {key.casefold(): host for host in listed for key in (host.name, host.address, host.target)}
    hosts: dict[str, InventoryHost] = {}
    for name in [*([request.source] if request.source else []), *request.destinations]:
        host = by_name.get(name.casefold(), InventoryHost(name, name))
        hosts.setdefault(host.name.casefold(), host)
    for host in listed:
        hosts.setdefault(host.name.casefold(), host)
    return list(hosts.values())


def _read_facts_dir(folder: Path) -> dict[str, HostFacts]:
    """Every fact file in the folder, keyed by the host's name; one host twice is refused."""
    if not folder.is_dir():
        raise UserError(f"--facts-dir {folder}: no such folder")
    facts: dict[str, HostFacts] = {}
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("*.json")):
        host = load_host_facts(path)
        key = host.name
        if key.casefold() in (k.casefold() for k in facts):
            raise UserError(f"--facts-dir {folder}: {files[key.casefold()].name} and {path.name} both describe {key}")
        facts[key] = host
        files[key.casefold()] = path
    if not facts:
        raise UserError(f"--facts-dir {folder}: no fact files (*.json) in it")
    return facts


def _roles(request: PlanRequest, facts: dict[str, HostFacts]) -> Roles:
    names = list(facts)

    def find(name: str) -> str:
        wanted = name.casefold()
        for key, host in facts.items():
            fqdn = host.identity.fqdn if host.identity else host.target
            if wanted in (key.casefold(), host.name.casefold(), host.target.casefold(), fqdn.casefold()):
                return key
        raise UserError(f"no host {name} among {', '.join(names[:20])}{' …' if len(names) > 20 else ''}")

    if request.all_pairs:
        return Roles(names, names)
    assert request.source is not None
    source = find(request.source)
    if request.destinations and (request.facts_dir is not None or request.inventory is None):
        destinations = [find(name) for name in request.destinations]
    else:
        destinations = [name for name in names if name != source]
    destinations = [d for d in dict.fromkeys(destinations) if d != source]
    if not destinations:
        raise UserError(f"no destination other than the source {request.source}")
    return Roles([source], destinations)


def _missing_vms(request: PlanRequest, matrix: PlacementMatrix, facts: dict[str, HostFacts], roles: Roles) -> None:
    """A --vm that no collected source has is a mistake worth one line, not an empty table."""
    found = {row.vm.casefold() for row in matrix.rows}
    for vm in request.vms:
        if vm.casefold() not in found:
            raise UserError(f"--vm {vm}: no such VM on {', '.join(roles.sources[:5])}")


def _save(facts: dict[str, HostFacts], folder: Path) -> None:
    for name, host in facts.items():
        save_host_facts(host, folder / f"{SAFE_FILE_NAME.sub('_', name)}.json")
    click.echo(f"wrote {len(facts)} fact file(s) to {folder}", err=True)


def _write(matrix: PlacementMatrix, info: PlanInfo, request: PlanRequest) -> None:
    if request.output_format == "json":
        sys.stdout.writelines(plan_json_chunks(matrix, info))
    else:
        render_plan_text(matrix, make_console(stderr=False), verbose=request.verbose)
    for output in PLAN_FORMATS:
        path = request.outputs.get(output.name)
        if path is not None:
            write_atomic(path, output.render(matrix, info))
            click.echo(f"wrote {path}", err=True)
