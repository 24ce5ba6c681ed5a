"""The lab on the command line: demo, lab list, lab run."""

from __future__ import annotations

import dataclasses
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

import click

from lmpreflight.collect.dns import DnsServer
from lmpreflight.collect.live import CollectOptions
from lmpreflight.commands.common import options_from, report_options
from lmpreflight.commands.live import live_check
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import DEFAULT_SCENARIO, Scenario, builtin_names, load_scenario

PASSWORD_VARIABLE = "LMPREFLIGHT_LAB_PASSWORD"


def lab_collect_options(lab: Lab, scenario: Scenario, include_storage: bool, vms: tuple[str, ...]) -> CollectOptions:
    endpoints = lab.endpoints
    return CollectOptions(
        username=scenario.client.user,
        password=scenario.client.password,
        transport=scenario.client.transport,
        ca_cert=str(endpoints.ca_cert),
        dns=DnsServer.parse(endpoints.dns),
        timeout=15,
        endpoints={lab.fqdn(name): url for name, url in endpoints.winrm.items()},
        vm_names=vms,
        include_storage=include_storage,
    )


@click.command()
@click.argument("scenario", default=DEFAULT_SCENARIO, metavar="[SCENARIO|PATH]")
@report_options
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def demo(scenario: str, quiet: bool, **kwargs: Any) -> None:
    """Run a full 'check' against the built-in lab: no Windows needed.

    The lab starts in this process (WinRM, DNS and LDAP on loopback) and lmpreflight collects
    from it exactly as from real hosts. Writes report.html and report.json here unless told
    otherwise. 'lmpreflight lab list' names the scenarios.
    """
    options = options_from(kwargs)
    spec = load_scenario(scenario)
    options = dataclasses.replace(
        options,
        vms=options.vms or tuple(spec.vms),
        include_storage=options.include_storage or spec.include_storage,
        html_path=options.html_path or Path("report.html"),
        json_path=options.json_path or Path("report.json"),
    )
    click.echo(f"lmpreflight demo: scenario '{spec.name}': {spec.summary}", err=True)
    with Lab(spec) as lab:
        collect = lab_collect_options(lab, spec, options.include_storage, options.vms)
        report = live_check(
            lab.fqdn(spec.role("source")), lab.fqdn(spec.role("destination")), options, collect, quiet, "demo"
        )
    click.echo(
        f"Open {options.html_path.resolve()} in a browser to see the report.",  # type: ignore[union-attr]
        err=True,
    )
    sys.exit(report.exit_code)


@click.group()
def lab() -> None:
    """The built-in lab: simulated Hyper-V hosts, DNS and Active Directory on loopback."""


@lab.command("list")
def lab_list() -> None:
    """The built-in scenarios, one line each, name first."""
    for name in builtin_names():
        spec = load_scenario(name)
        click.echo(f"{name:<32} {spec.summary}")


@lab.command("run")
@click.argument("scenario", metavar="SCENARIO|PATH")
def lab_run(scenario: str) -> None:
    """Run the lab in the foreground and print how to point 'lmpreflight check' at it."""
    spec = load_scenario(scenario)
    with Lab(spec) as running:
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
        words = [
            "lmpreflight",
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
