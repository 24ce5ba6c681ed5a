"""Options for reaching live hosts, the password, and per-host progress on the terminal."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from lmpreflight.collect.dns import DnsServer
from lmpreflight.collect.parallel import CollectOptions, parse_endpoints
from lmpreflight.collect.winrm import TRANSPORT_EXTRAS
from lmpreflight.commands.common import apply
from lmpreflight.errors import UserError
from lmpreflight.terminal import SafeConsole

F = TypeVar("F", bound=Callable[..., Any])
TRANSPORTS = ("ntlm", "kerberos", "credssp", "basic", "certificate")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How to reach hosts, as given on the command line (the password is read only when
    :func:`collect_options` builds the collection settings)."""

    user: str | None = None
    password_env: str | None = None
    transport: str = "ntlm"
    https: bool = False
    ca_cert: str | None = None
    no_verify: bool = False
    cert_pem: str | None = None
    cert_key_pem: str | None = None
    domain: str | None = None
    dns_server: str | None = None
    endpoints: tuple[str, ...] = ()
    timeout: float = 120
    quiet: bool = False
    record_dir: Path | None = None


def connection_options(function: F) -> F:
    """How to reach hosts; shared by ``check``, ``collect``, ``diagnose`` and ``plan``. No option
    takes a password. The command receives them as one ``connection: ConnectionSettings`` argument."""
    file = click.Path(exists=True, dir_okay=False)

    @functools.wraps(function)
    def with_connection_options(*args: Any, **kwargs: Any) -> Any:
        names = [f.name for f in dataclasses.fields(ConnectionSettings)]
        kwargs["connection"] = ConnectionSettings(**{name: kwargs.pop(name) for name in names})
        return function(*args, **kwargs)

    return apply(
        [
            click.option("--user", "-u", metavar="DOMAIN\\USER", help="Account for WinRM and LDAP."),
            click.option(
                "--password-env",
                metavar="VAR",
                help="Read the password from this environment variable (else you are prompted).",
            ),
            click.option(
                "--transport",
                type=click.Choice(TRANSPORTS),
                default="ntlm",
                show_default=True,
                help="WinRM authentication.",
            ),
            click.option("--https", is_flag=True, help="Use WinRM over HTTPS (5986) instead of HTTP with encryption."),
            click.option("--ca-cert", type=file, help="CA certificate (PEM) for WinRM HTTPS and LDAP StartTLS."),
            click.option("--no-verify", is_flag=True, help="Do not verify TLS certificates (not recommended)."),
            click.option("--cert-pem", type=file, help="Client certificate for --transport certificate."),
            click.option("--cert-key-pem", type=file, help="Its private key."),
            click.option(
                "--domain",
                metavar="DNS-DOMAIN",
                type=DomainName(),
                help="Active Directory domain to read and authenticate to "
                "(default: from each host's FQDN as typed, else from --user user@domain).",
            ),
            click.option(
                "--dns-server",
                metavar="ADDRESS|NAME[:PORT]",
                help="DNS server to ask, such as a DC: an address or a name, [IPv6]:PORT for IPv6 with a port "
                "(default: the system's).",
            ),
            click.option(
                "--endpoint",
                "endpoints",
                multiple=True,
                metavar="NAME=URL",
                help="Reach a host at this WinRM URL instead of its name (repeatable).",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(5, 3600),
                metavar="SECONDS",
                default=120,
                show_default=True,
                help="Seconds each host may take (closing its remote shell may take up to 5 s more).",
            ),
            click.option("--quiet", "-q", is_flag=True, help="No progress display."),
            click.option(
                "--record",
                "record_dir",
                type=click.Path(file_okay=False, path_type=Path),
                metavar="DIR",
                help="Keep each host's raw collector output (password removed) in a new folder inside DIR, "
                "to send back or replay in the lab.",
            ),
        ],
        cast(F, with_connection_options),
    )


def normalise_user(user: str | None) -> str | None:
    """``DOMAIN\\user``, ``user@domain`` or ``.\\user``, checked before anything is sent: a wrong
    user name costs failed logons. A doubled backslash (copied from PowerShell or Python
    text) becomes one."""
    if user is None:
        return None
    user = user.replace("\\\\", "\\")
    domain, backslash, name = user.partition("\\")
    local, at, realm = user.partition("@")
    if backslash and domain and name and "\\" not in name:
        return user
    if at and local and realm and not backslash:
        return user
    if not backslash and not at:
        raise UserError(
            f"--user {user}: the name has no domain (no \\ or @); bash drops an unquoted backslash, "
            "so quote it: --user 'CORP\\admin', or write admin@corp.example"
        )
    raise UserError(f"--user {user}: expected DOMAIN\\user or user@domain (in bash, quote it: --user 'CORP\\admin')")


class DomainName(click.ParamType[str]):
    """A DNS domain name (letters, digits, hyphens, dots): it becomes a DNS query and an LDAP
    search base, so nothing else is let through."""

    name = "DNS-DOMAIN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).rstrip(".").lower()
        labels = text.split(".")
        if len(text) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
            self.fail(f"{value!r} is not a DNS domain name such as corp.example", param, ctx)
        return text


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def resolve_password(user: str | None, password_env: str | None, transport: str) -> str | None:
    """The password from the environment or a prompt without echo; never from the command line."""
    if transport == "certificate":
        return None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise UserError(f"--password-env {password_env}: the environment variable is not set")
        if not value:
            # Windows refuses a blank password over the network (LimitBlankPasswordUse): an
            # empty variable is a mistake, not a password, and must not cost a failed logon.
            raise UserError(f"--password-env {password_env}: the environment variable is empty")
        return value
    if user is None:
        if transport == "kerberos":
            return None
        raise UserError(f"--user is required with --transport {transport} (for example --user 'CORP\\admin')")
    if not sys.stdin.isatty():
        raise UserError("no password: pass --password-env VAR, or run in a terminal to be prompted")
    return str(click.prompt(f"Password for {user}", hide_input=True, err=True))


def require_transport_extra(transport: str) -> None:
    """Kerberos and CredSSP need optional packages; say which before connecting anywhere,
    not once per host after the attempt."""
    import winrm.transport

    missing = (transport == "kerberos" and not winrm.transport.HAVE_KERBEROS) or (
        transport == "credssp" and not winrm.transport.HAVE_CREDSSP
    )
    if missing:
        raise UserError(
            f"--transport {transport} needs extra packages: pip install 'lmpreflight[{TRANSPORT_EXTRAS[transport]}]'"
        )


def collect_options(
    settings: ConnectionSettings, vm_names: tuple[str, ...] = (), include_storage: bool = False
) -> CollectOptions:
    """The collection settings: the user checked, the password read, TLS risks said aloud."""
    transport = settings.transport
    require_transport_extra(transport)
    user = normalise_user(settings.user)
    # Every argument is checked before the password is read or prompted for: a typo must not
    # cost the admin a password prompt first.
    cert_pem, cert_key_pem = settings.cert_pem, settings.cert_key_pem
    if transport == "certificate" and not (cert_pem and cert_key_pem):
        raise UserError("--transport certificate needs --cert-pem and --cert-key-pem")
    endpoints = parse_endpoints(settings.endpoints)
    if settings.dns_server is not None and not settings.dns_server.strip():
        raise UserError("--dns-server: the value is empty; give the server's address, or leave the option out")
    dns = DnsServer.parse(settings.dns_server)
    if settings.record_dir is not None and not settings.record_dir.is_dir():
        raise UserError(f"--record {settings.record_dir}: not a folder")  # before the password prompt
    password = resolve_password(user, settings.password_env, transport)
    verify = not settings.no_verify
    if not verify:
        click.echo(
            "lmpreflight: warning: TLS certificates are not verified (--no-verify): "
            "any server that answers for a host or a DC receives your logon exchange",
            err=True,
        )
    https = settings.https or transport in ("certificate",)
    plain = [url for url in endpoints.values() if urlsplit(url).scheme == "http"]
    if transport == "basic" and (not https or plain):
        where = f" ({', '.join(plain)})" if plain else ""
        click.echo(
            f"lmpreflight: WARNING: Basic authentication over plain HTTP{where} sends the password "
            "unencrypted to anyone on the path; prefer --transport ntlm, or https:// endpoints",
            err=True,
        )
    return CollectOptions(
        username=user,
        password=password,
        transport=transport,
        https=https,
        ca_cert=settings.ca_cert,
        verify=verify,
        cert_pem=cert_pem,
        cert_key_pem=cert_key_pem,
        dns=dns,
        timeout=settings.timeout,
        endpoints=endpoints,
        domain=settings.domain,
        vm_names=vm_names,
        include_storage=include_storage,
        record_dir=settings.record_dir,
    )


STAGES = {
    "waiting": "[dim]waiting[/]",
    "connecting": "[cyan]connecting[/]",
    "collecting": "[cyan]running the collector[/]",
    "peer": "[cyan]waiting for the other host's addresses[/]",
    "stage-two": "[cyan]stage two (port tests / compatibility)[/]",
    "directory": "[cyan]reading the directory and DNS[/]",
    "done": "[green]done[/]",
    "failed": "[red]failed[/]",
}
FINISHED = ("done", "failed")


@dataclass
class _HostState:
    stage: str = "waiting"
    started: float | None = None
    stage_started: float | None = None
    ended: float | None = None


class HostProgress:
    """A live table of hosts, each with its stage and the seconds it has taken so far, on a
    terminal; silent when quiet or piped. The seconds spent in the current stage are shown
    too, so a host that hangs says where: connecting, in the collector, or reading LDAP/DNS."""

    def __init__(
        self,
        hosts: list[str],
        quiet: bool,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console or SafeConsole(stderr=True)
        self.enabled = not quiet and self.console.is_terminal
        self.clock = clock
        self.hosts = {host: _HostState() for host in hosts}
        self.lock = threading.Lock()
        self.live: Live | None = None

    def _table(self) -> Table:
        now = self.clock()
        table = Table.grid(padding=(0, 2))
        with self.lock:
            for host, state in self.hosts.items():
                table.add_row(host, STAGES.get(state.stage, state.stage), _elapsed(state, now))
        return table

    def __enter__(self) -> HostProgress:
        if self.enabled:
            # Re-rendered on every refresh, so the seconds keep counting while a host is silent.
            self.live = Live(console=self.console, refresh_per_second=4, transient=True, get_renderable=self._table)
            self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, host: str, stage: str) -> None:
        now = self.clock()
        with self.lock:
            state = self.hosts.setdefault(host, _HostState())
            if state.started is None:
                state.started = now
            if stage != state.stage:
                state.stage, state.stage_started = stage, now
            if stage in FINISHED:
                state.ended = now


def _elapsed(state: _HostState, now: float) -> str:
    """'14s' for the host so far, with the current stage's share when it is not the whole."""
    if state.started is None:
        return ""
    total = (state.ended or now) - state.started
    if state.ended is not None or state.stage_started is None or state.stage_started == state.started:
        return f"{total:.0f}s"
    return f"{total:.0f}s ({now - state.stage_started:.0f}s in this stage)"
