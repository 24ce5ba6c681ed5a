"""What real WinRM does that the happy path never shows: busy and timed-out Sends, hosts that
trickle or flood, CLIXML stderr, redirects, and PowerShell in Constrained Language mode."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

from lmpreflight.collect import winrm as transport
from lmpreflight.collect.parallel import collect_hosts
from lmpreflight.collect.winrm import CollectionFailed, Connection, clixml_errors, describe
from lmpreflight.lab import wsman as lab_wsman
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import load_scenario
from tests.lab_helpers import collect_pair, options_for

DATA = Path(__file__).parent / "data" / "clixml"
CONNECTION = Connection("hv01.corp.example", "http://hv01.corp.example:5985/wsman", "ntlm", "CORP\\a", "pw")


def _exchanges(seconds: float) -> Any:
    return transport._Exchanges(CONNECTION, time.monotonic() + seconds, threading.Event())


def test_clixml_error_records_are_decoded_and_progress_is_skipped() -> None:
    text = (DATA / "stderr-progress-and-error.txt").read_text(encoding="utf-8")
    [message] = clixml_errors(text)
    assert message.startswith("Get-VMHost : You do not have the required permission")
    assert "computer 'HV01'." in message and "Preparing modules" not in message
    assert message.endswith("café <x> _x000A_ \U0001f600")


def test_a_busy_or_timed_out_send_is_retried_with_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)
    failures: list[BaseException] = [
        WSManFaultError(500, "busy", "", "The WS-Management service is busy", wsman_fault_code=170),
        WinRMOperationTimeoutError(),
    ]
    sent = []

    class Host:
        operation_timeout_sec = 5
        read_timeout_sec = 15

        def send_command_input(self, shell: str, command: str, data: bytes, end: bool) -> None:
            if failures:
                raise failures.pop(0)
            sent.append((data, end, self.operation_timeout_sec))

    with _exchanges(10) as exchange:
        transport._send(Host(), "S", "C", b"x", True, exchange)
    assert sent == [(b"x", True, transport.SEND_OPERATION_TIMEOUT)]


def test_send_retries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)

    class Host:
        operation_timeout_sec = 5
        read_timeout_sec = 15

        def send_command_input(self, *args: Any, **kwargs: Any) -> None:
            raise WSManFaultError(500, "busy", "", "busy", wsman_fault_code=170)

    with _exchanges(10) as exchange, pytest.raises(WSManFaultError):
        transport._send(Host(), "S", "C", b"x", False, exchange)


def test_an_exchange_that_trickles_past_the_deadline_is_abandoned() -> None:
    started = time.monotonic()
    with pytest.raises(CollectionFailed, match="did not finish the collection in time"):
        _exchanges(0.5).run(lambda: time.sleep(30))
    assert time.monotonic() - started < 2


def test_a_hosts_exchanges_are_made_in_turn_by_one_worker_which_an_abandoned_exchange_retires() -> None:
    with _exchanges(10) as exchange:
        workers = {exchange.run(threading.get_ident) for _ in range(3)}
        assert len(workers) == 1 and threading.get_ident() not in workers
        interrupt = threading.Timer(0.1, exchange.cancel.set)  # Ctrl-C while the exchange is in flight
        interrupt.start()
        with pytest.raises(transport.Cancelled):
            exchange.run(lambda: time.sleep(30))
        interrupt.join()
        with pytest.raises(transport.Cancelled):
            exchange.run(threading.get_ident)  # nothing new is sent after Ctrl-C
        # Closing the shell still gets its exchange, on a worker not stuck in the abandoned one.
        exchange.cancel.clear()
        assert exchange.quietly(lambda: None) is False  # nothing more after abandoning ...
        exchange.abandoned = False  # ... unless the caller decides to close anyway
        closer = exchange.run(threading.get_ident, closing=True)
        assert closer not in workers


@pytest.mark.parametrize("limit", [None, 512])
def test_output_in_one_receive_or_spread_over_many_gives_the_same_facts(
    limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows packs the output it holds into one Receive reply; a large or slow output still
    takes several, and the stage-one line may then end in any of them."""
    if limit is not None:
        monkeypatch.setattr(lab_wsman, "RECEIVE_OUTPUT_LIMIT", limit)
    scenario = load_scenario("healthy")
    name = scenario.role("source")
    with Lab(scenario) as lab:
        [facts] = collect_hosts([lab.fqdn(name)], options_for(lab, scenario))
        receives = lab.wsman[name].stats.actions.count("Receive")
    assert facts.errors == [] and facts.vms
    assert (receives > 3) if limit else (receives <= 2), receives


def test_an_exchange_that_fails_with_a_timeout_of_its_own_is_that_failure_not_a_wait() -> None:
    def read() -> None:
        raise TimeoutError("read timed out")

    with _exchanges(10) as exchange, pytest.raises(TimeoutError, match="read timed out"):
        exchange.run(read)


def test_a_redirect_is_refused_and_said_so() -> None:
    failure = describe(requests.exceptions.TooManyRedirects("Exceeded 0 redirects."), CONNECTION)
    assert "never redirects" in failure.message


def test_the_protocol_allows_no_redirects() -> None:
    protocol = transport._protocol(CONNECTION)
    session = requests.Session()
    response = requests.Response()
    response.status_code = 200
    session.send = lambda *args, **kwargs: response
    protocol.transport._send_message_request(session, requests.Request("POST", "http://x/wsman").prepare())
    assert session.max_redirects == 0


def test_constrained_language_is_one_clear_line() -> None:
    scenario = load_scenario("healthy")
    hosts = dict(scenario.hosts)
    hosts["HV02"] = hosts["HV02"].model_copy(update={"fault": "constrained-language"})
    scenario = scenario.model_copy(update={"hosts": hosts})
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    error = destination.whole_host_error
    assert error is not None
    assert "runs in ConstrainedLanguage mode" in error.message
    assert error.hint is not None and "collector-script --offline" in error.hint
    assert source.whole_host_error is None


def test_a_loaded_host_answering_busy_and_timing_out_is_still_collected() -> None:
    scenario = load_scenario("winrm-busy")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
        turned_away = {name: dict(server.options.faults) for name, server in lab.wsman.items()}
        sends = {name: server.stats.actions.count("Send") for name, server in lab.wsman.items()}
    assert source.errors == [] and destination.errors == []
    assert all(count == 0 for faults in turned_away.values() for count in faults.values()), "every fault was served"
    assert sends == {"HV01": 4, "HV02": 4}, "two Sends each, plus one retry per busy or timed-out Send"


class _Flooding:
    """A host whose stdout is whatever ``chunks`` yields (pywinrm's Protocol, faked)."""

    operation_timeout_sec = 5
    read_timeout_sec = 15

    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks
        self.sent: list[bytes] = []

    def send_command_input(self, shell: str, command: str, data: bytes, end: bool = False) -> None:
        self.sent.append(data)

    def get_command_output_raw(self, shell: str, command: str) -> tuple[bytes, bytes, int, bool]:
        return next(self.chunks)


def test_a_host_flooding_output_is_stopped_at_the_cap() -> None:
    def endless() -> Any:
        while True:
            yield b"A" * (8 << 20), b"", 0, False

    with pytest.raises(CollectionFailed, match="sent more than 64 MB"):
        transport._converse(_Flooding(endless()), "S", "C", _exchanges(30), "# script", lambda stage: None)  # type: ignore[arg-type]


def test_many_lines_before_the_document_are_skipped_in_linear_time() -> None:
    document = b'{"lmpreflight_collector": 1, "sections": {}}\r\n'
    answer = b'{"lmpreflight_port_tests": []}\r\n'
    chunks = iter([(b"WARNING: x\r\n" * 200_000 + document, b"", 0, False), (answer, b"", 0, True)])
    started = time.monotonic()
    stage_one, stage_two = transport._converse(
        _Flooding(chunks),
        "S",
        "C",
        _exchanges(30),
        "# script",
        lambda stage: transport.StageTwoRequest(),  # type: ignore[arg-type]
    )
    assert time.monotonic() - started < 3
    assert stage_one.document["lmpreflight_collector"] == 1 and stage_two == {"lmpreflight_port_tests": []}


def _source(lab: Lab) -> tuple[str, lab_wsman.WsmanServer]:
    name = lab.scenario.role("source")
    return lab.fqdn(name), lab.wsman[name]


def test_a_shell_the_host_makes_after_the_deadline_is_deleted_before_the_run_moves_on() -> None:
    """Windows makes the shell of a Create still in flight when the tool gives up; left open,
    it would count towards MaxShellsPerUser until its IdleTimeout."""
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        host, server = _source(lab)
        server.options.create_latency = 2.0
        options = options_for(lab, scenario)
        [late] = collect_hosts([host], dataclasses.replace(options, timeout=1.0))
        assert late.whole_host_error is not None and "did not finish" in late.whole_host_error.message
        assert server.stats.shells_created == 1 and server.shells == {}, "made, then deleted before the return"
        # With a quota of one shell, the next run gets its shell: none was left behind.
        server.options.create_latency, server.options.max_shells_per_user = 0.0, 1
        [again] = collect_hosts([host], options)
    assert again.errors == [] and again.vms


def test_ctrl_c_while_the_create_is_in_flight_leaves_no_shell_open() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        host, server = _source(lab)
        server.options.create_latency = 0.6
        cancel = threading.Event()
        create = server.create

        def create_after_ctrl_c(options: dict[str, str]) -> str:
            """Ctrl-C the moment the host starts making the shell, however loaded the machine
            (a timer could fire before the NTLM handshake had even sent the Create)."""
            cancel.set()
            return create(options)

        server.create = create_after_ctrl_c  # type: ignore[method-assign]
        with pytest.raises(transport.Cancelled):
            collect_hosts([host], options_for(lab, scenario), cancel=cancel)
        assert server.stats.shells_created == 1 and server.shells == {}


def test_the_shell_is_deleted_after_the_deadline_however_slow_the_host() -> None:
    """A collection past its deadline still gets its closing budget: each exchange takes 0.3 s
    here, and the Delete on a fresh session (its NTLM handshake first) takes about a second."""
    scenario = load_scenario("healthy")
    hosts = dict(scenario.hosts)
    source = scenario.role("source")
    hosts[source] = hosts[source].model_copy(update={"fault": "hang"})
    scenario = scenario.model_copy(update={"hosts": hosts})
    with Lab(scenario, LabTuning(http_latency=0.3)) as lab:
        host, server = _source(lab)
        [facts] = collect_hosts([host], dataclasses.replace(options_for(lab, scenario), timeout=3.0))
        assert facts.whole_host_error is not None and "did not finish" in facts.whole_host_error.message
        assert server.stats.actions[-1] == "Delete" and server.shells == {}, "deleted before the return"


def test_a_create_past_max_shells_per_user_is_refused_as_windows_refuses_it() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        host, server = _source(lab)
        server.options.max_shells_per_user = 1
        server.create({})  # a shell an earlier run left open
        [facts] = collect_hosts([host], options_for(lab, scenario))
    error = facts.whole_host_error
    assert error is not None and "returned a WS-Management fault" in error.message
    assert "This user is allowed a maximum number of 1 concurrent shells, which has been exceeded" in error.message


def test_nothing_new_is_sent_past_the_deadline_only_the_closing() -> None:
    """Past the host's deadline an exchange that is not closing raises at once without going
    out; the closing ones (Signal, Delete) still do, within their own budget."""
    sent: list[str] = []
    with _exchanges(-1) as exchange:
        with pytest.raises(CollectionFailed):
            exchange.run(lambda: sent.append("Command"))
        exchange.run(lambda: sent.append("Delete"), closing=True)
    assert sent == ["Delete"]


def test_hosts_building_their_sessions_at_once_never_share_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests sets and deletes os.environ['no_proxy'] while it builds a session
    (psf/requests#4997): two hosts doing so at once could fail one with KeyError: 'no_proxy'.
    Here that moment lasts 20 ms, so sessions built together would overlap in it; each still
    logs on (its encryption's NTLM handshake, outside that moment)."""
    set_environ = requests.utils.set_environ
    inside: list[int] = []
    most = [0]

    @contextlib.contextmanager
    def slow_set_environ(name: str, value: str | None) -> Any:
        with set_environ(name, value):
            inside.append(1)
            most[0] = max(most[0], len(inside))
            time.sleep(0.02)
            inside.pop()
            yield

    monkeypatch.setattr(requests.utils, "set_environ", slow_set_environ)
    monkeypatch.setattr(transport, "_MERGED", {})  # requests works it out (once) in this run
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        options = options_for(lab, scenario)
        host, _ = _source(lab)
        endpoint = options.endpoints[host]
        user, password = options.username, options.password
        protocols = [
            transport._protocol(Connection(host, endpoint, "ntlm", user, password, options.ca_cert)) for _ in range(8)
        ]
        threads = [threading.Thread(target=protocol.transport.build_session) for protocol in protocols]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert most[0] == 1, f"{most[0]} sessions were built at once"
    assert all(protocol.transport.encryption is not None for protocol in protocols), "each logged on"
