"""The collection transport against the lab: one shell and one process per host, the script
over stdin, faults turned into one-line errors, shells always closed, secrets never shown."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time

import pytest
import requests

from lmpreflight.collect import winrm as transport
from lmpreflight.collect.parallel import collect_hosts
from lmpreflight.collect.script import BOOTSTRAP, bootstrap_arguments, render_collector
from lmpreflight.facts.model import PortTest
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.hosts import LabWorld
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.html import render_html
from lmpreflight.report.json_report import render_json
from lmpreflight.runner import Selection, evaluate
from tests.lab_helpers import collect_pair, options_for, pywinrm_session


def test_collector_is_far_over_the_command_line_limit_but_the_bootstrap_is_not() -> None:
    assert len(render_collector(["SQL01"])) > 8_000
    command_line = " ".join(["powershell.exe", *bootstrap_arguments()])
    assert len(command_line) < 2_000
    assert "-EncodedCommand" in command_line


def test_one_shell_one_process_and_few_exchanges_per_host() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
        for server in lab.wsman.values():
            assert server.stats.shells_created == 1
            assert server.stats.processes == 1
            assert server.shells == {}
            # NTLM handshake (3) + Create, Command, Send x2, Receive x2-3, Delete
            assert server.stats.http_requests <= 11, server.stats.actions
            assert server.stats.actions.count("Send") == 2, "stage one, then the peer's addresses"
    assert source.errors == [] and destination.errors == []
    assert source.directory is not None and source.directory.computer is not None
    assert source.dns is not None and source.dns.dc_srv[0].target == "dc01.corp.example"


def test_a_host_without_a_peer_gets_its_empty_second_stage_behind_the_script_in_one_send() -> None:
    scenario = load_scenario("healthy")
    name = scenario.role("source")
    with Lab(scenario) as lab:
        [alone] = collect_hosts([lab.fqdn(name)], options_for(lab, scenario))
        actions = lab.wsman[name].stats.actions
    assert actions.count("Send") == 1, actions
    assert actions[-2:] == ["Receive", "Delete"], "the command had ended: deleting the shell frees it, no Signal"
    assert alone.errors == []
    assert alone.network is not None and alone.network.port_tests == [], "the empty request was answered"
    assert alone.compatibility == []


def test_port_tests_are_made_from_the_source_to_the_destination_migration_address() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    assert source.network is not None
    assert [(t.address, t.port, t.succeeded, t.outcome, t.source_address) for t in source.network.port_tests] == [
        ("10.0.50.12", 6600, True, "connected", "10.0.50.11")
    ]
    assert destination.network is not None
    assert [(t.address, t.port) for t in destination.network.port_tests] == [("10.0.50.11", 6600)]


@pytest.mark.parametrize(
    ("scenario", "outcome"),
    [("port-6600-blocked", "timed-out"), ("migration-disabled", "refused")],
)
def test_a_failed_port_test_says_how_it_failed_and_from_where(scenario: str, outcome: str) -> None:
    loaded = load_scenario(scenario)
    world = LabWorld(loaded, "CORP\\hvadmin")
    assert world.tcp_attempt("HV01", "10.0.50.12", 6600)[:2] == (outcome, "10.0.50.11")


def test_no_route_is_unreachable_without_a_source_address() -> None:
    world = LabWorld(load_scenario("healthy"), "CORP\\hvadmin")
    outcome, source, detail = world.tcp_attempt("HV01", "2001:db8::12", 6600)
    assert (outcome, source) == ("unreachable", None)
    assert detail is not None and "unreachable network" in detail


def test_a_port_test_whose_outcome_contradicts_succeeded_is_refused() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        PortTest(address="10.0.50.12", port=6600, succeeded=True, outcome="refused")
    # Facts written before outcomes were recorded still load.
    assert PortTest(address="10.0.50.12", port=6600, succeeded=False).outcome is None


def test_clock_offset_is_measured_against_the_tool() -> None:
    scenario = load_scenario("clock-skew")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    assert source.clock is not None and destination.clock is not None
    assert abs(source.clock.offset_seconds) < 5
    assert 410 < destination.clock.offset_seconds < 430


def test_basic_transport_over_https_with_the_lab_ca() -> None:
    scenario = load_scenario("healthy").model_copy(
        update={"client": load_scenario("healthy").client.model_copy(update={"transport": "basic"})}
    )
    with Lab(scenario, LabTuning(https=True)) as lab:
        assert all(url.startswith("https://") for url in lab.endpoints.winrm.values())
        source, destination = collect_pair(lab, scenario, transport="basic")
    assert source.errors == [] and destination.errors == []


def test_https_without_the_ca_is_a_clear_tls_error() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario, LabTuning(https=True)) as lab:
        source, _ = collect_pair(lab, scenario, ca_cert=None)
    error = source.whole_host_error
    assert error is not None
    assert "TLS to https://127.0.0.1" in error.message and "not trusted" in error.message
    assert error.hint is not None and "--ca-cert" in error.hint


def test_missing_transport_extra_names_the_extra() -> None:
    pytest.importorskip("winrm")
    try:
        import kerberos  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.fail("this test needs an environment without the kerberos extra")
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        source, _ = collect_pair(lab, scenario, transport="kerberos")
    error = source.whole_host_error
    assert error is not None
    assert error.message == "the kerberos transport needs extra packages"
    assert error.hint == "install them with: pip install 'lmpreflight[kerberos]'"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("host-unreachable", "cannot connect to WinRM on http://127.0.0.1:"),
        ("bad-password", "CORP\\hvadmin"),
        ("garbage-output", "is not JSON (starts with 'Loading personal and system profiles"),
        ("connection-dropped", "closed the connection mid-collection"),
        ("host-hangs", "did not finish the collection in time"),
    ],
)
def test_faults_become_one_line_errors_and_the_other_host_is_still_collected(scenario: str, expected: str) -> None:
    spec = load_scenario(scenario)
    started = time.monotonic()
    with Lab(spec) as lab:
        source, destination = collect_pair(lab, spec)
        assert all(server.shells == {} for server in lab.wsman.values()), "shells closed even after a fault"
    assert time.monotonic() - started < 15, "a per-host deadline bounds every fault"
    error = destination.whole_host_error
    assert error is not None
    assert expected in error.message
    assert "\n" not in error.message
    if scenario != "bad-password":
        assert source.whole_host_error is None and source.migration is not None, "the other host is collected"


def test_unknown_host_name_is_a_resolution_error() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        options = dataclasses.replace(options_for(lab, scenario), endpoints={})
        (facts,) = collect_hosts(["no-such-host.invalid"], options)
    assert facts.whole_host_error is not None
    assert facts.whole_host_error.message == "cannot resolve no-such-host.invalid: no DNS record; is the name right?"


def test_ctrl_c_closes_the_remote_shells(interactive_ctrl_c: None) -> None:
    scenario = load_scenario("host-hangs")
    with Lab(scenario) as lab:
        options = dataclasses.replace(options_for(lab, scenario), timeout=60)
        timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            collect_hosts([lab.fqdn("HV01"), lab.fqdn("HV02")], options, pair=True)
        assert all(server.shells == {} for server in lab.wsman.values())


def test_the_password_appears_nowhere() -> None:
    scenario = load_scenario("bad-password")
    secret = scenario.client.password
    with Lab(scenario) as lab:
        options = options_for(lab, scenario)
        source, destination = collect_pair(lab, scenario)
    assert secret not in repr(options)
    results = evaluate(load_checks(include_plugins=False), source, destination, Selection())
    report = build_report(results, source, destination, Selection(), RunInfo("check", "test"))
    for text in (render_json(report), render_html(report), source.model_dump_json(), destination.model_dump_json()):
        assert secret not in text


def test_the_ntlm_hashes_are_derived_once_a_run_and_appear_nowhere(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    scenario = load_scenario("healthy")
    secret = scenario.client.password
    assert secret is not None
    derived = []
    lmowfv1 = transport.lmowfv1
    monkeypatch.setattr(transport, "lmowfv1", lambda password: derived.append(password) or lmowfv1(password))
    transport._derive_ntlm_hashes.cache_clear()
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    assert source.errors == [] and destination.errors == [], "the hosts accept the hashes as the password"
    assert derived.count(secret) == 1, "two hosts, one derivation"
    lm, nt = transport.ntlm_hashes(secret).split(":")
    rejected = load_scenario("bad-password")
    with Lab(rejected) as lab:
        _, refused = collect_pair(lab, rejected)
    assert refused.whole_host_error is not None
    assert rejected.client.password is not None
    rejected_nt = transport.ntlm_hashes(rejected.client.password).split(":")[1]
    texts = [caplog.text, source.model_dump_json(), refused.model_dump_json(), repr(options_for(lab, rejected))]
    for text in texts:
        for value in (secret, lm, nt, rejected.client.password, rejected_nt):
            assert value.casefold() not in text.casefold()


def test_bootstrap_reads_the_script_from_stdin_as_utf8() -> None:
    assert "OpenStandardInput" in BOOTSTRAP and "UTF8Encoding" in BOOTSTRAP
    assert "-InputFormat" not in " ".join(bootstrap_arguments())


def test_the_lab_rejects_long_command_lines_silently_like_windows() -> None:
    """Why the collector goes through stdin: run_ps of a long script fails without an exception."""
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        session = pywinrm_session(lab, scenario)
        result = session.run_ps("# lmpreflight-fact: os\n" + "#" * 3500)
    assert result.status_code == 1
    assert result.std_err == b"The command line is too long.\r\n"


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
def test_a_message_prepared_as_a_copy_is_what_requests_prepares(auth: str) -> None:
    """A host's session prepares each message as a copy of its first one: each must be what
    requests' full preparation makes of it, header for header and in order, an empty body too."""
    from requests_ntlm import HttpNtlmAuth

    from lmpreflight.collect.winrm import _prepare_as_first

    def session() -> requests.Session:
        made = requests.Session()
        made.auth = HttpNtlmAuth("LAB\\u", "p") if auth == "ntlm" else requests.auth.HTTPBasicAuth("u", "p")
        made.headers.update({"Content-Type": "application/soap+xml;charset=UTF-8", "User-Agent": "Python WinRM client"})
        return made

    url = "http://127.0.0.1:5985/wsman"
    plain, copying = session(), session()
    _prepare_as_first(copying)
    for data in [b"<first/>" * 10, b"<second/>", b"", None, b"x", "<text/>"]:
        full = plain.prepare_request(requests.Request("POST", url, data=data))
        copied = copying.prepare_request(requests.Request("POST", url, data=data))
        assert (copied.method, copied.url, list(copied.headers.items()), copied.body) == (
            full.method,
            full.url,
            list(full.headers.items()),
            full.body,
        ), repr(data)


def test_the_endpoint_adapter_asks_for_what_requests_asks_for() -> None:
    """The adapter remembers each request's pool and URL: each must be what requests' own
    adapter works out for that request, proxied or not, every time."""
    from lmpreflight.collect.winrm import _EndpointAdapter

    plain = requests.adapters.HTTPAdapter()
    remembering = _EndpointAdapter(requests.adapters.HTTPAdapter())
    urls = ["http://hv01.corp.example:5985/wsman", "http://hv01:5985//wsman?x=1#f", "https://10.0.0.1:5986/wsman"]
    proxies: list[dict[str, str] | None] = [None, {"no_proxy": "*"}, {"http": "http://proxy:3128"}, {}]
    for _ in range(2):
        for url in urls:
            for chosen in proxies:
                prepared = requests.Request("POST", url, data=b"x").prepare()
                assert remembering.request_url(prepared, chosen) == plain.request_url(prepared, chosen)
                pool = remembering.get_connection_with_tls_context(prepared, True, chosen)
                assert pool is remembering.get_connection_with_tls_context(prepared, True, chosen)
                assert (pool.scheme, pool.host, pool.port) == (
                    (own := plain.get_connection_with_tls_context(prepared, True, chosen)).scheme,
                    own.host,
                    own.port,
                )


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128"},
        {"http_proxy": "http://proxy:3128", "NO_PROXY": "hv01.corp.example,.lab"},
        {"ALL_PROXY": "socks5://proxy:1080", "no_proxy": "10.0.0.0/8", "REQUEST_METHOD": "GET"},
        {"REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem", "HTTPS_PROXY": "http://proxy:3128"},
        {"CURL_CA_BUNDLE": "/etc/curl-ca.pem", "NO_PROXY": "*"},
    ],
)
def test_a_session_gets_from_the_environment_what_requests_works_out_for_its_host(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    """Sessions are built with requests' answer worked out once a run: each host's must be
    what pywinrm and requests work out for that host, whatever the proxy variables and
    NO_PROXY say about its name, and each session must own its proxies."""
    from winrm.protocol import Protocol

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "REQUEST_METHOD"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(transport, "_MERGED", {})
    endpoints = ["http://hv01.corp.example:5985/wsman", "http://hv02.lab:5985/wsman", "https://10.0.0.1:5986/wsman"]
    built = []
    for endpoint in endpoints * 2:
        connection = transport.Connection("hv01", endpoint, "basic", "u", "p", verify=True)
        session = transport._protocol(connection).transport.build_session()
        own = Protocol(endpoint, transport="plaintext", username="u", password="p", proxy=None, ca_trust_path=None)
        expected = own.transport.build_session()
        asked = {"no_proxy": "*"}
        worked_out = transport._merge_once_a_run(requests.Session(), endpoint, dict(asked), None, None, None)
        assert worked_out == requests.Session().merge_environment_settings(endpoint, dict(asked), None, None, None)
        assert (dict(session.proxies), session.verify, session.cert, session.stream) == (
            dict(expected.proxies),
            expected.verify,
            expected.cert,
            expected.stream,
        ), endpoint
        assert all(session.proxies is not other for other in built)
        built.append(session.proxies)
    assert len(transport._MERGED) == 1, "worked out once"
    assert requests.Session.merge_environment_settings is transport._merge_in_full, "requests' own again"


def test_other_proxy_settings_get_requests_full_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only pywinrm's ``no_proxy: *`` makes the answer the same for every host; a proxy of
    its own is worked out by requests for each host."""
    monkeypatch.setenv("NO_PROXY", "hv01.corp.example")
    monkeypatch.setattr(transport, "_MERGED", {})
    for url in ["http://hv01.corp.example:5985/wsman", "http://hv02.corp.example:5985/wsman"]:
        asked = {"http": "http://proxy:3128", "https": "http://proxy:3128"}
        ours = transport._merge_once_a_run(requests.Session(), url, dict(asked), None, None, None)
        assert ours == requests.Session().merge_environment_settings(url, dict(asked), None, None, None)
    assert transport._MERGED == {}
