"""The lab on the command line: demo, lab list, lab run, lab facts."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lmpreflight.commands.check import live_check
from lmpreflight.commands.common import ReportOptions, refuse_unwritable, report_options, validate_skips
from lmpreflight.commands.connection import HostProgress
from lmpreflight.commands.plan import PlanRequest, run_plan
from lmpreflight.errors import UserError
from lmpreflight.facts import save_host_facts
from lmpreflight.fileio import is_special
from lmpreflight.fleet.formats import PLAN_FORMATS
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.lab.fact_files import pinned
from lmpreflight.lab.scenario import DEFAULT_SCENARIO, Scenario, builtin_names, load_scenario
from lmpreflight.pipeline import collect_pair
from lmpreflight.registry import load_checks

if TYPE_CHECKING:
    from lmpreflight.lab.environment import Lab

PASSWORD_VARIABLE = "LMPREFLIGHT_LAB_PASSWORD"
LAB_EXTRA_MODULES = ("dnslib", "ldaptor", "twisted")


def _lab_environment() -> type[Lab]:
    """The lab's servers, imported only when a lab command runs: they need the optional 'lab' extra."""
    try:
        for extra in LAB_EXTRA_MODULES:
            importlib.import_module(extra)
        from lmpreflight.lab.environment import Lab
    except ModuleNotFoundError as missing:
        raise UserError(
            f"the lab needs extra packages ({missing.name} is missing): pip install 'lmpreflight[lab]'"
        ) from None
    return Lab


@click.command()
@click.argument("scenario", default=DEFAULT_SCENARIO, metavar="[SCENARIO|PATH]")
@report_options
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def demo(scenario: str, quiet: bool, report: ReportOptions) -> None:
    """Run 'check' against the built-in lab: no Windows needed.

    The lab starts in this process (WinRM, DNS and LDAP on loopback) and lmpreflight collects
    from it exactly as from real hosts. Writes report.html and report.json here unless told
    otherwise ('demo fleet' runs 'plan' and writes plan.html and plan.json). 'lmpreflight lab
    list' names the scenarios.
    """
    lab_environment = _lab_environment()
    spec = load_scenario(scenario)
    options = demo_options(spec, report)
    click.echo(f"lmpreflight demo: scenario '{spec.name}': {spec.summary}", err=True)
    for path in options.outputs.values():
        if path.exists() and not is_special(path):
            click.echo(f"lmpreflight demo: replacing {path} (name another file with --html/--json)", err=True)
    if spec.demo == "plan":
        sys.exit(demo_plan(spec, lab_environment, options, quiet))
    with lab_environment(spec) as lab:
        checked = live_check(
            lab.fqdn(spec.role("source")),
            lab.fqdn(spec.role("destination")),
            options,
            lambda: lab.collect_options(options.include_storage, options.vms),
            quiet,
            "demo",
        )
    _say_where_to_look(options.outputs["html"], "the report")
    sys.exit(checked.exit_code)


def demo_options(spec: Scenario, report: ReportOptions) -> ReportOptions:
    """The scenario's VMs and move options under the ones given, the default report files,
    and every option checked — --skip ids, options the scenario's command does not take,
    files that cannot be written — before the lab starts, so a mistake costs no lab run."""
    validate_skips(load_checks(), report.skip)
    if spec.demo == "plan":
        plan_formats = {f.name for f in PLAN_FORMATS}
        refused = [f"--{name}" for name in report.outputs if name not in plan_formats]
        check_only = (
            ("--waivers", report.waivers_path),
            ("--move-from", report.move_from),
            ("--storage-path", report.storage_path),
        )
        refused += [option for option, value in check_only if value is not None]
        if refused:
            raise UserError(f"demo {spec.name} runs 'plan', which does not take {refused[0]}")
        outputs = {"json": Path("plan.json"), "html": Path("plan.html"), **report.outputs}
        options = dataclasses.replace(report, outputs=outputs)
    else:
        options = dataclasses.replace(
            report,
            vms=report.vms or tuple(spec.vms),
            include_storage=report.include_storage or spec.include_storage or spec.storage_path is not None,
            move_from=report.move_from or spec.move_from,
            storage_path=report.storage_path or spec.storage_path,
            outputs={
                **report.outputs,
                "html": report.html_path or Path("report.html"),
                "json": report.json_path or Path("report.json"),
            },
        )
    for path in options.outputs.values():
        refuse_unwritable(path)
    return options


def demo_plan(spec: Scenario, lab_environment: type[Lab], options: ReportOptions, quiet: bool) -> int:
    """'plan --all-pairs' over every host of the lab; writes plan.html and plan.json here."""
    request = PlanRequest(
        source=None,
        destinations=(),
        inventory=None,
        limit=None,
        all_pairs=True,
        facts_dir=None,
        save_facts=None,
        vms=options.vms,
        skip=options.skip,
        strict=options.strict,
        include_storage=options.include_storage,
        output_format=options.output_format,
        outputs=dict(options.outputs),
        verbose=options.verbose,
        quiet=quiet,
    )
    with lab_environment(spec) as lab:
        hosts = [InventoryHost(name, lab.fqdn(name)) for name in spec.hosts]
        matrix = run_plan(request, lambda: lab.collect_options(options.include_storage, ()), "demo", hosts)
    _say_where_to_look(options.outputs["html"], "the placement matrix")
    return matrix.exit_code


def _say_where_to_look(html: Path, what: str) -> None:
    if not is_special(html):
        click.echo(f"Open {html.resolve()} in a browser to see {what}.", err=True)


def _this_program() -> list[str]:
    """How to start this lmpreflight from another terminal: the absolute path of the running
    executable (a README user has it in .venv/bin, not on PATH)."""
    launched = Path(sys.argv[0])
    if launched.name == "lmpreflight" and launched.is_file():
        return [str(launched.resolve())]
    return [sys.executable, "-m", "lmpreflight"]


@click.group(short_help="The built-in lab: simulated hosts, DNS and AD.")
def lab() -> None:
    """The built-in lab: simulated Hyper-V hosts, DNS and Active Directory on loopback."""


@lab.command("list")
def lab_list() -> None:
    """The built-in scenarios, one line each, name first."""
    for name in builtin_names():
        spec = load_scenario(name)
        click.echo(f"{name:<32} {spec.summary}")


@lab.command("run", short_help="Run the lab and print the command that checks it.")
@click.argument("scenario", metavar="SCENARIO|PATH")
def lab_run(scenario: str) -> None:
    """Run the lab in the foreground and print how to point 'lmpreflight check' at it."""
    lab_environment = _lab_environment()
    spec = load_scenario(scenario)
    with lab_environment(spec) as running:
        endpoints = running.endpoints
        source, destination = spec.role("source"), spec.role("destination")
        click.echo(f"lmpreflight lab: scenario '{spec.name}' is running (Ctrl-C stops it)")
        click.echo(f"  {spec.summary}\n")
        for name, url in endpoints.winrm.items():
            click.echo(f"  {name:<8} {running.fqdn(name):<28} WinRM {url}")
        for domain, port in endpoints.ldap.items():
            click.echo(f"  DC       {spec.domains[domain].dc:<28} LDAP 127.0.0.1:{port} (StartTLS)")
        click.echo(f"  DNS      127.0.0.1 port {endpoints.dns.split(':')[1]}")
        click.echo(f"  CA       {endpoints.ca_cert}")
        click.echo(f"  user     {spec.client.user}    password {spec.client.password}\n")
        if spec.demo == "plan":
            inventory = str(running.write_inventory())
            words = [*_this_program(), "plan", "--inventory", inventory, "--all-pairs"]
            words += running.connection_arguments(PASSWORD_VARIABLE, endpoints=False)
        else:
            words = [
                *_this_program(),
                "check",
                running.fqdn(source),
                running.fqdn(destination),
                *running.connection_arguments(PASSWORD_VARIABLE),
            ]
            for vm in spec.vms:
                words += ["--vm", vm]
        click.echo("Check it from another terminal:")
        click.echo(f"  export {PASSWORD_VARIABLE}={shlex.quote(spec.client.password)}")
        click.echo("  " + shlex.join(words))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("\nlmpreflight lab: stopped", err=True)


@lab.command("facts", short_help="Collect a scenario's two hosts into fact files.")
@click.argument("scenario", metavar="SCENARIO|PATH")
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="Existing folder for source.json and destination.json.",
)
@click.option(
    "--vm", "vms", multiple=True, metavar="NAME", help="Also gather Hyper-V's verdicts on this VM (repeatable)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def lab_facts(scenario: str, folder: Path, vms: tuple[str, ...], quiet: bool) -> None:
    """Collect the scenario's source and destination from the lab, as 'check --save-facts' does,
    and write their fact files (for 'analyze'). Times, the tool's machine and the lab's ports
    are pinned, so the same scenario always gives the same files: examples/facts/ is written
    this way (scripts/regenerate-examples)."""
    if not folder.is_dir():
        raise UserError(f"--out {folder}: not a folder")
    lab_environment = _lab_environment()
    spec = load_scenario(scenario)
    roles = {"source": spec.role("source"), "destination": spec.role("destination")}
    on_source = [vm.get("name") for vm in spec.host_facts(roles["source"]).get("vms") or []]
    unknown = [vm for vm in vms if vm not in on_source]
    if unknown:
        # Facts gathered naming a VM the source lacks would be written silently and misread later.
        raise UserError(
            f"--vm {', '.join(unknown)}: not a VM of {roles['source']} in scenario '{spec.name}' "
            f"(it has: {', '.join(map(str, on_source)) or 'none'})"
        )
    with lab_environment(spec) as running:
        source, destination = running.fqdn(roles["source"]), running.fqdn(roles["destination"])
        options = running.collect_options(spec.include_storage, vms)
        with HostProgress([source, destination], quiet) as progress:
            collected = collect_pair(source, destination, options, progress.update)
    for (role, name), facts in zip(roles.items(), collected, strict=True):
        path = folder / f"{role}.json"
        save_host_facts(pinned(facts, spec, name), path)
        click.echo(f"wrote {path} ({name}, scenario '{spec.name}')", err=True)
