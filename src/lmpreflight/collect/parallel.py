"""Collecting facts from live hosts: every host in parallel, one WinRM shell each, then
LDAP and DNS from the tool. Failures become collection errors on that host's facts; the
other hosts are still collected."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from lmpreflight._version import __version__
from lmpreflight.collect.directory import DirectoryCredentials, DirectoryError, DirectorySessions, read_directory
from lmpreflight.collect.dns import DnsServer, dns_facts
from lmpreflight.collect.recording import Transcript, refuse_existing, write_recording
from lmpreflight.collect.script import RehearsalRequest, StageTwoRequest, render_collector
from lmpreflight.collect.winrm import (
    CANCELLED_CLOSE_BUDGET,
    Cancelled,
    CollectionFailed,
    Connection,
    StageOne,
    run_collector,
)
from lmpreflight.errors import UserError
from lmpreflight.facts.addresses import incoming_addresses
from lmpreflight.facts.from_collector import facts_from_collector, with_stage_two
from lmpreflight.facts.model import (
    WHOLE_HOST,
    CollectionError,
    CollectorInfo,
    DirectoryFacts,
    DnsFacts,
    HostFacts,
    NetworkFacts,
    is_address,
    short_host_name,
)
from lmpreflight.facts.windows import MIGRATION_PORT, SMB_PORT

CANCEL_GRACE = CANCELLED_CLOSE_BUDGET + 0.5
"""Seconds the workers get after Ctrl-C to close their remote shells before the tool exits:
their closing budget, and the fraction of a second each takes to notice Ctrl-C."""
STAGE_TWO_RESERVE = 15.0
"""Seconds kept for a host's own TCP tests when it waits for its peer's addresses."""

T = TypeVar("T")

Progress = Callable[[str, str], None]
"""Called with (host, stage): connecting, collecting, peer (waiting for the other host's stage
one), stage-two, directory (LDAP and DNS), done, failed."""


@dataclass(frozen=True)
class CollectOptions:
    username: str | None
    password: str | None
    transport: str = "ntlm"
    https: bool = False
    ca_cert: str | None = None
    verify: bool = True
    cert_pem: str | None = None
    cert_key_pem: str | None = None
    dns: DnsServer = field(default_factory=DnsServer)
    timeout: float = 120.0
    vm_names: tuple[str, ...] = ()
    include_storage: bool = False
    storage_path: str | None = None
    concurrency: int = 8
    endpoints: dict[str, str] = field(default_factory=dict)
    events_hours: int | None = None
    domain: str | None = None
    """--domain: the AD domain to read (and send credentials to); else from the typed FQDN."""
    record_dir: Path | None = None
    """--record: keep each host's raw collector output in this folder."""

    def __repr__(self) -> str:
        return f"CollectOptions(username={self.username!r}, transport={self.transport!r})"

    def endpoint(self, host: str) -> str:
        for name, url in self.endpoints.items():
            if name.casefold() in (host.casefold(), host.split(".")[0].casefold()):
                return url
        scheme, port = ("https", 5986) if self.https else ("http", 5985)
        return f"{scheme}://{host}:{port}/wsman"


def parse_endpoints(values: tuple[str, ...]) -> dict[str, str]:
    """``--endpoint NAME=URL``: reach a host at another address or port than its name says."""
    endpoints: dict[str, str] = {}
    for value in values:
        name, _, url = value.partition("=")
        parts = urlsplit(url)
        if not name or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"--endpoint {value}: expected NAME=http(s)://ADDRESS:PORT/wsman")
        endpoints[name] = url
    return endpoints


class Rendezvous:
    """Where the hosts of a pair meet after stage one: each needs the other's migration
    addresses to test TCP against them from where the move will start."""

    def __init__(self, hosts: list[str]) -> None:
        self._facts: dict[str, HostFacts | None] = {}
        self._ready = {host: threading.Event() for host in hosts}

    def publish(self, host: str, facts: HostFacts | None) -> None:
        self._facts[host] = facts
        self._ready[host].set()

    def wait(self, host: str, deadline: float) -> HostFacts | None:
        self._ready[host].wait(max(0.0, deadline - time.monotonic()))
        return self._facts.get(host)


CANCEL_POLL = 0.2
"""Seconds between two looks at Ctrl-C while a host waits for the password's verdict."""
FIRST_LOGON_WAIT = 10.0
"""Seconds the other hosts wait for a logon's outcome before one of them tries as well (a host
that hangs after accepting the connection must not stall the rest)."""
MOST_TESTERS = 2
"""Hosts trying a password whose verdict is not known yet, at most: the password may be wrong,
and every host that tries a wrong one costs a failed logon towards the account's lockout."""
DIRECTORY_TESTER = "ldap:"
"""How a directory read (a DC binding with the password) is named at the gate, before its domain and host."""
CREDENTIALS_HINT = "check the user name and password, then run again"
LOCKOUT_HINT = (
    "not tried, to protect the account from a lockout: trying a rejected password on more hosts and the DC "
    "counts as more failed logons"
)


class CredentialGate:
    """One password is tried on one host at a time until a host accepts it; once one host or
    the DC rejects it, nothing else tries it. Each failed logon counts towards the domain's
    lockout threshold, so a mistyped password costs one failed logon per run, not four."""

    def __init__(self, enabled: bool = True, on_domain_accepted: Callable[[], None] = lambda: None) -> None:
        self._on_domain_accepted = on_domain_accepted
        """Called once, when a DC first accepts the password (a fleet then starts its other
        processes). A host's acceptance does not settle it: a host also accepts a local
        account of the same name, whose password the domain may well reject."""
        self._domain_accepted = False
        self._condition = threading.Condition()
        self._testers: dict[str, float] = {}
        """Who is trying the password without a verdict yet, and since when."""
        self._accepted = not enabled  # nothing to lock out without a password (certificates, Kerberos tickets)
        self._rejection: str | None = None
        self._rejected_by_host = False
        self.hint = CREDENTIALS_HINT
        """The first rejection's hint, which every run held back repeats: one cause, one fix."""

    def admit(self, who: str, cancel: threading.Event | None = None) -> str | None:
        """``None`` when ``who`` may log on now; else why it must not (the rejection).

        A host without an outcome after ``FIRST_LOGON_WAIT`` is joined by one waiting host,
        the others wait on: a slow logon costs at most ``MOST_TESTERS`` tries of a password,
        never one per host. A tester that ends without a verdict (``undecided``) frees its
        place. ``cancel`` (Ctrl-C) ends the wait within a fraction of a second: ``Cancelled``."""
        with self._condition:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                if self._rejection is not None:
                    if not (self._rejected_by_host and self._domain_testing()):
                        return self._rejection
                    # A host refused it while a DC is still judging the password: the DC's
                    # verdict says whether that host refused the password or only the account.
                    self._condition.wait(CANCEL_POLL if cancel is not None else None)
                    continue
                if self._accepted:
                    return None
                now = time.monotonic()
                latest = max(self._testers.values(), default=None)
                if latest is None or (len(self._testers) < MOST_TESTERS and now - latest >= FIRST_LOGON_WAIT):
                    self._testers[who] = now
                    return None
                timeout = None if len(self._testers) >= MOST_TESTERS else latest + FIRST_LOGON_WAIT - now
                if cancel is not None:
                    timeout = CANCEL_POLL if timeout is None else min(timeout, CANCEL_POLL)
                self._condition.wait(timeout)

    def _domain_testing(self) -> bool:
        """A directory read is trying the password at a DC (its verdict is to come)."""
        return any(who.startswith(DIRECTORY_TESTER) for who in self._testers)

    @property
    def is_accepted(self) -> bool:
        """A host or the DC accepted the password (or there is none) and none rejected it:
        whoever shares this outcome may log on without waiting its turn."""
        with self._condition:
            return self._accepted and self._rejection is None

    @property
    def is_domain_accepted(self) -> bool:
        """A DC accepted the password: a host refusing it from now on refuses the account, not
        the password."""
        with self._condition:
            return self._domain_accepted

    def accepted(self, by_domain: bool = False) -> None:
        """A host (or, ``by_domain``, a DC) accepted the password. A DC's acceptance also lifts
        a host's earlier refusal: that host refused the account, not the password."""
        with self._condition:
            first = by_domain and not self._domain_accepted
            self._accepted = True
            self._domain_accepted = self._domain_accepted or by_domain
            if by_domain and self._rejected_by_host:
                self._rejection, self._rejected_by_host, self.hint = None, False, CREDENTIALS_HINT
            self._condition.notify_all()
        if first:
            self._on_domain_accepted()

    def rejected(self, message: str, hint: str | None, by_domain: bool = False) -> bool:
        """A host (or, ``by_domain``, a DC) refused the password: whether that now holds every
        later logon back. Not once a DC has accepted the password: a host answering HTTP 401
        then refuses the account (not in its Administrators group, or the authentication
        method is off in its WinRM service; Ansible's Windows setup guide lists the causes of a
        401), so only that host fails and the password, proven right, costs no lockout."""
        with self._condition:
            if self._domain_accepted and not by_domain:
                return False
            if self._rejection is None:
                self._rejection, self.hint = message, hint or CREDENTIALS_HINT
                self._rejected_by_host = not by_domain
            elif by_domain:
                self._rejected_by_host = False  # a DC's rejection settles it: the password is wrong
            self._condition.notify_all()
            return True

    def undecided(self, who: str) -> None:
        """``who`` got no answer about the password (host down, no DC): let another try."""
        with self._condition:
            if self._testers.pop(who, None) is not None and not self._accepted:
                self._condition.notify_all()


WINRM_AUTH_SETTING = {
    "basic": "Basic",
    "ntlm": "Negotiate",
    "kerberos": "Kerberos",
    "credssp": "CredSSP",
    "certificate": "Certificate",
}
"""Each --transport's setting under winrm/config/service/auth on the host."""


def account_refused_hint(transport: str) -> str:
    """The fix for a host's HTTP 401 once the domain accepted the password: the account, not
    the password, is what this host refuses."""
    setting = WINRM_AUTH_SETTING.get(transport, transport)
    return (
        "the domain accepted this password, so this host refuses the account itself: add it to the host's "
        "Administrators group (Remote Management Users and Hyper-V Administrators allow a partial collection), "
        f"and check that its WinRM service allows {setting} authentication (winrm get winrm/config/service/auth)"
    )


def collector_info(options: CollectOptions) -> CollectorInfo:
    """Who collected, from where, as whom: recorded with every host's facts."""
    return CollectorInfo(method="winrm", tool_version=__version__, run_from=socket.gethostname(), user=options.username)


def failed_host(target: str, options: CollectOptions, message: str, hint: str | None) -> HostFacts:
    """The facts of a host whose collection failed as a whole: only why, so every check of it
    says INCOMPLETE with that reason."""
    return HostFacts(
        collected_at=datetime.now(UTC),
        collector=collector_info(options),
        target=target,
        errors=[CollectionError(section=WHOLE_HOST, message=message, hint=hint)],
    )


def _incoming(facts: HostFacts | None) -> list[str]:
    return (incoming_addresses(facts) if facts is not None else None) or []


def chosen_domain(options: CollectOptions, typed: str | None) -> str | None:
    """The DNS domain the admin chose: --domain, else the typed FQDN's, else the one in a
    ``user@domain.example`` user name. A NetBIOS ``DOMAIN\\user`` names no DNS domain."""
    if options.domain:
        return options.domain.rstrip(".").lower()
    if typed is not None and "." in typed:
        return typed.split(".", 1)[1].lower()
    user = options.username or ""
    if "@" in user and "." in user.rpartition("@")[2]:
        return user.rpartition("@")[2].rstrip(".").lower()
    return None


@dataclass
class _HostJob:
    target: str
    peer: str | None
    role: str
    options: CollectOptions
    rendezvous: Rendezvous
    cancel: threading.Event
    progress: Progress
    gate: CredentialGate = field(default_factory=CredentialGate)
    directory: DirectorySessions = field(default_factory=DirectorySessions)
    deadline: float = 0.0
    stage_one: HostFacts | None = None

    @property
    def collector(self) -> CollectorInfo:
        return collector_info(self.options)

    def parse_stage_one(self, stage: StageOne) -> HostFacts:
        return facts_from_collector(
            stage.document, target=self.target, collector=self.collector, observer_utc=stage.received_utc
        )

    def stage_two_for(self, stage: StageOne) -> StageTwoRequest:
        """Publish this host's stage one, wait for the peer's, and ask for what only this host
        can tell: TCP to the peer's migration addresses and, on the destination, Hyper-V's
        verdict on the source VMs' compatibility information. A host without a peer has
        nothing to ask after stage one: it gets the empty request with the script."""
        assert self.peer is not None
        self.stage_one = own = self.parse_stage_one(stage)
        self.rendezvous.publish(self.target, own)
        # Wait for the peer only as long as leaves time for this host's own tests.
        reserve = min(STAGE_TWO_RESERVE, self.options.timeout / 3)
        self.progress(self.target, "peer")
        peer = self.rendezvous.wait(self.peer, self.deadline - reserve)
        self.progress(self.target, "stage-two")
        ports = [MIGRATION_PORT]
        smb = own.migration is not None and own.migration.performance_option == "SMB"
        if smb or self.options.include_storage:
            ports.append(SMB_PORT)
        tcp = [(address, port) for address in _incoming(peer) for port in ports]
        compatibility = []
        if self.role == "destination" and peer is not None:
            compatibility = [(vm.name, vm.compatibility_info) for vm in peer.vms or [] if vm.compatibility_info]
        rehearsal = None
        if self.role == "source" and self.options.vm_names:
            # Hyper-V's dry run names the destination as Move-VM would: by a DNS name (Kerberos).
            destination = peer.full_name if peer is not None else self.peer
            rehearsal = RehearsalRequest(
                destination,
                self.options.vm_names,
                self.options.include_storage or self.options.storage_path is not None,
                self.options.storage_path,
            )
        return StageTwoRequest(tcp, compatibility, rehearsal)

    def run(self) -> HostFacts:
        if self.cancel.is_set():  # Ctrl-C before this host started: no logon, no LDAP bind
            self.rendezvous.publish(self.target, None)
            raise Cancelled()
        options = self.options
        connection = Connection(
            host=self.target,
            endpoint=options.endpoint(self.target),
            transport=options.transport,
            username=options.username,
            password=options.password,
            ca_cert=options.ca_cert,
            verify=options.verify,
            cert_pem=options.cert_pem,
            cert_key_pem=options.cert_key_pem,
        )
        self.deadline = deadline = time.monotonic() + options.timeout
        # Directory and DNS do not depend on the host: read them meanwhile, unless the host was
        # typed as an address and only its answer can name it.
        by_address = is_address(self.target.rstrip("."))
        early = (
            None
            if by_address
            else in_daemon_thread(f"tool-facts-{self.target}", self._read_tool_facts, self._identity(None))
        )

        transcript = Transcript() if options.record_dir is not None else None

        try:
            rejection = self.gate.admit(self.target, self.cancel)
            if rejection is not None:
                raise CollectionFailed(f"{rejection}; {LOCKOUT_HINT}", self.gate.hint)
            stage, answer = run_collector(
                connection,
                _collector_script(options.vm_names, options.events_hours, self.peer_names()),
                self.stage_two_for if self.peer is not None else StageTwoRequest(),
                deadline,
                self.cancel,
                lambda stage_name: self.progress(self.target, stage_name),
                transcript,
                on_logon=self.gate.accepted,
            )
            self._record(transcript, "collected")
            # Stage one was parsed when the host answered it (unless the collector ended right away).
            facts = with_stage_two(self.stage_one or self.parse_stage_one(stage), answer)
        except CollectionFailed as failure:
            self._record(transcript, f"failed: {failure.message}")
            if failure.credentials_rejected:
                if not self.gate.rejected(failure.message, failure.hint):
                    failure = CollectionFailed(failure.message, account_refused_hint(options.transport))
            else:
                self.gate.undecided(self.target)
            self.rendezvous.publish(self.target, None)
            self.progress(self.target, "failed")
            facts = failed_host(self.target, options, failure.message, failure.hint)
        except BaseException:
            self.gate.undecided(self.target)  # interrupted: another host may try (and notice Ctrl-C)
            self.rendezvous.publish(self.target, None)
            raise
        return self._with_tool_facts(facts, early)

    def _record(self, transcript: Transcript | None, outcome: str) -> None:
        """Keep the raw exchange (``--record``), whatever became of the collection."""
        if transcript is None or self.options.record_dir is None:
            return
        secrets = [self.options.password] if self.options.password else []
        write_recording(self.options.record_dir, self.target, self.options.transport, transcript, outcome, secrets)

    def _identity(self, facts: HostFacts | None) -> _Names:
        """Computer name, FQDN and domain of the host the admin named. The domain, which
        decides where the admin's credentials go, comes only from the admin: --domain, the
        typed FQDN, or the --user domain; never from what the host says about itself. Only
        a host typed as an address is looked up under the name it reports, and the
        identity checks say that name was not verified."""
        typed = self.target.rstrip(".")
        if not is_address(typed):
            return typed_names(typed, self.options)
        domain = chosen_domain(self.options, None)
        if facts is not None and facts.identity is not None:
            return _Names(facts.identity.computer_name, _qualified(facts.identity.fqdn, domain), domain)
        return _Names(short_host_name(typed), typed, domain)

    def peer_names(self) -> tuple[str, ...]:
        """The peer's names for this host to resolve itself: as typed and as the FQDN the tool
        resolves it by (both are in the peer's own DNS facts, to compare with). A peer typed
        as an address has no name to resolve."""
        if self.peer is None or is_address(self.peer.rstrip(".")):
            return ()
        typed = self.peer.rstrip(".")
        return tuple(dict.fromkeys([typed, typed_names(typed, self.options).fqdn]))

    def _with_tool_facts(self, facts: HostFacts, early: Future[_ToolFacts] | None) -> HostFacts:
        """Add what the tool reads itself (read early unless the host was typed as an address)."""
        names = self._identity(facts)
        self.progress(self.target, "directory")
        tool = early.result() if early is not None else None
        if tool is None or tool.names != names:
            tool = self._read_tool_facts(names)
        self.progress(self.target, "done" if not facts.whole_host_error else "failed")
        return facts.model_copy(
            update={
                "directory": tool.directory,
                "dns": tool.dns,
                "network": _management_from_dns(facts, tool.dns, self.target),
                "errors": [*facts.errors, *tool.errors],
            }
        )

    def _read_tool_facts(self, names: _Names) -> _ToolFacts:
        options = self.options
        errors: list[CollectionError] = []
        directory = None
        # Each host's bind tries the password on its own: one name per host, so the gate counts
        # every bind as a tester (a name shared by all hosts' binds counted them as one).
        directory_tester = f"{DIRECTORY_TESTER}{names.domain}:{self.target}"
        if names.domain is None:
            errors.append(
                CollectionError(
                    section="directory",
                    message="the domain to read Active Directory in is unknown",
                    hint="type the host's FQDN, pass --domain, or give --user as user@domain.example",
                )
            )
        elif options.username is None or options.password is None:
            errors.append(
                CollectionError(
                    section="directory",
                    message="no credentials to read Active Directory with",
                    hint="pass --user (certificate authentication cannot bind to LDAP)",
                )
            )
        elif (rejection := self.gate.admit(directory_tester, self.cancel)) is not None:
            errors.append(
                CollectionError(section="directory", message=f"{rejection}; {LOCKOUT_HINT}", hint=self.gate.hint)
            )
        else:
            try:
                directory = read_directory(
                    options.dns,
                    names.domain,
                    names.computer,
                    names.fqdn,
                    DirectoryCredentials(options.username, options.password, options.ca_cert, options.verify),
                    self.deadline or time.monotonic() + options.timeout,
                    self.directory,
                    # The read's bound connections are the domain's acceptance of the
                    # password: a fleet's other hosts start on it, not after its last searches.
                    functools.partial(self.gate.accepted, by_domain=True),
                )
                if directory.computer is None:
                    errors.append(
                        CollectionError(
                            section="directory.computer",
                            message=f"no computer account {names.computer}$ in {names.domain} "
                            f"({directory.domain_controller})",
                            hint="is the host joined to this domain under that name?",
                        )
                    )
            except DirectoryError as exc:
                if exc.credentials_rejected:
                    self.gate.rejected(exc.message, exc.hint, by_domain=True)
                else:
                    self.gate.undecided(directory_tester)
                errors.append(CollectionError(section="directory", message=exc.message, hint=exc.hint))
        dns = dns_facts(
            options.dns,
            [self.target, names.fqdn],
            names.domain,
            self.deadline or time.monotonic() + options.timeout,
            self.directory.locator_cache(options.dns),
        )
        return _ToolFacts(names, directory, dns, errors)


@functools.lru_cache(maxsize=16)
def _collector_script(vm_names: tuple[str, ...], events_hours: int | None, peer_names: tuple[str, ...]) -> str:
    """The collector, rendered once for every host that is asked the same: a fleet's hosts
    all are, and rendering the template costs about 0.25 ms of CPU a host."""
    return render_collector(vm_names, events_hours=events_hours, peer_names=peer_names)


def _qualified(name: str, domain: str | None) -> str:
    return f"{name}.{domain}" if "." not in name and domain is not None else name


def typed_names(typed: str, options: CollectOptions) -> _Names:
    """Computer name, FQDN and domain of a host named ``typed`` (a name, not an address)."""
    domain = chosen_domain(options, typed)
    return _Names(short_host_name(typed), _qualified(typed, domain), domain)


@dataclass(frozen=True)
class _Names:
    computer: str
    fqdn: str
    domain: str | None


@dataclass(frozen=True)
class _ToolFacts:
    names: _Names
    directory: DirectoryFacts | None
    dns: DnsFacts
    errors: list[CollectionError]


def collect_hosts(
    hosts: list[str],
    options: CollectOptions,
    progress: Progress = lambda host, stage: None,
    pair: bool = False,
    gate: CredentialGate | None = None,
    directory: DirectorySessions | None = None,
    cancel: threading.Event | None = None,
) -> list[HostFacts]:
    """Facts for every host, in the order given. With ``pair``, hosts[0] is the source and
    hosts[1] the destination, and each tests TCP to the other's migration addresses.
    ``gate`` shares one password's fate across calls (a fleet collects host by host), and
    ``directory`` the LDAP connections (closed by the caller that passes it). ``cancel``,
    when set, stops the collection within a fraction of a second, as Ctrl-C does: for a
    caller running this in a thread, which Ctrl-C does not reach."""
    if directory is None:
        with DirectorySessions() as own:
            return collect_hosts(hosts, options, progress, pair, gate, own, cancel)
    if options.record_dir is not None:
        refuse_existing(options.record_dir, hosts)
    rendezvous = Rendezvous(hosts)
    # A caller passing ``cancel`` runs in a thread of its own (a fleet's): its one host is
    # collected in that thread, not in one more started only to be waited for.
    here = cancel is not None and len(hosts) == 1
    cancel = cancel or threading.Event()
    gate = gate or CredentialGate(enabled=options.password is not None)
    jobs = []
    for index, host in enumerate(hosts):
        peer = hosts[1 - index] if pair else None
        role = ("source" if index == 0 else "destination") if pair else "source"
        jobs.append(_HostJob(host, peer, role, options, rendezvous, cancel, progress, gate, directory))
    # A pair's hosts wait for each other after stage one: both must run at once.
    slots = threading.BoundedSemaphore(len(hosts) if pair else max(1, min(options.concurrency, len(hosts))))

    def run(job: _HostJob) -> HostFacts:
        with slots:
            return job.run()

    futures = (
        [_settled(Future(), run, jobs[0])]
        if here
        else [in_daemon_thread(f"collect-{job.target}", run, job) for job in jobs]
    )
    try:
        return [future.result() for future in futures]
    except BaseException:
        # Ctrl-C (or a bug): tell the workers to stop, give them a moment to close their
        # remote shells, and leave. They are daemon threads, so a host that is slow to
        # answer cannot hold the exit.
        cancel.set()
        for job in jobs:
            rendezvous.publish(job.target, None)
        wait(futures, timeout=CANCEL_GRACE)
        raise


def in_daemon_thread(name: str, function: Callable[..., T], *args: object) -> Future[T]:
    """Run ``function`` in a daemon thread and return its future. Unlike a thread pool's
    workers, which the interpreter joins at exit, a daemon thread stuck on a silent socket
    does not delay the exit after Ctrl-C."""
    future: Future[T] = Future()

    def work() -> None:
        if future.set_running_or_notify_cancel():
            _settled(future, function, *args)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def _settled(future: Future[T], function: Callable[..., T], *args: object) -> Future[T]:
    """``future``, holding what ``function`` returned or raised."""
    try:
        future.set_result(function(*args))
    except BaseException as exc:  # handed to whoever waits for the result
        future.set_exception(exc)
    return future


def _management_from_dns(facts: HostFacts, dns: DnsFacts, target: str) -> NetworkFacts | None:
    """The management adapters are those carrying an address the tool resolved the host's name
    to (the name it was reached by); without such an answer the collector's own view (the
    default route) stands."""
    if facts.network is None:
        return None
    resolved = {a for record in dns.forward if record.name.casefold() == target.casefold() for a in record.addresses}
    local = {a.address for adapter in facts.network.adapters for a in adapter.addresses}
    if not resolved & local:
        return facts.network
    adapters = [
        adapter.model_copy(update={"is_management": any(a.address in resolved for a in adapter.addresses)})
        for adapter in facts.network.adapters
    ]
    return facts.network.model_copy(update={"adapters": adapters})
