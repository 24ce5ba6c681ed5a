"""Directory reads of a fleet in batches: each host's facts are exactly what its own searches
give (a missing account, a duplicate SPN, an error), and the lab DC holds a batched search to
AD's limits (MaxPageSize, paged results, the request's size limit)."""

from __future__ import annotations

import gc
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ldap3 import SUBTREE
from ldap3.core.exceptions import LDAPUnavailableCriticalExtensionResult
from ldaptor.protocols import pureldap

from lmpreflight.collect import directory
from lmpreflight.collect.directory import (
    PAGED_RESULTS,
    DirectoryCredentials,
    DirectoryError,
    DirectorySessions,
    read_directory,
)
from lmpreflight.collect.parallel import CollectOptions, typed_names
from lmpreflight.facts.model import DirectoryFacts
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.ldap_policy import MAX_PAGE_SIZE
from lmpreflight.lab.scenario import load_scenario

DELEGATION = "msDS-AllowedToDelegateTo"
SIZE_LIMIT_EXCEEDED = 4
"""The LDAP result code (RFC 4511), which ldap3 does not raise."""


def _fleet(tmp_path: Path, hosts: int) -> Lab:
    path = tmp_path / "estate.yaml"
    path.write_text(f"extends: fleet\nname: estate\ngenerate: {{hosts: {hosts}, vms_per_host: 1}}\n", encoding="utf-8")
    return Lab(load_scenario(str(path)))


def _targets(lab: Lab) -> list[str]:
    """Every host of the lab, and one name no account answers to."""
    domain = next(iter(lab.scenario.domains))
    return [lab.fqdn(name) for name in lab.scenario.hosts] + [f"nohost.{domain}"]


def _read_all(lab: Lab, targets: list[str], batched: bool) -> dict[str, object]:
    """Each target's directory facts (without the clocks) or its error, read by 8 threads
    sharing one run's connections, as a fleet's hosts read them."""
    options = lab.collect_options(False, ())
    credentials = _credentials(options)
    found: dict[str, object] = {}
    with DirectorySessions(2) as sessions:
        if batched:
            sessions.expect(typed_names(target, options) for target in targets)

        def read(target: str) -> None:
            names = typed_names(target, options)
            assert names.domain is not None
            try:
                facts = read_directory(
                    options.dns, names.domain, names.computer, names.fqdn, credentials, time.monotonic() + 30, sessions
                )
            except DirectoryError as exc:
                found[target] = ("error", exc.message, exc.hint)
                return
            found[target] = facts.model_dump(mode="json", exclude={"dc_utc", "observer_utc"})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(read, targets))
    return found


def _searches(lab: Lab) -> int:
    return sum(server.directory.searches for server in [*lab.ldap.values(), *lab.global_catalogs.values()])


@pytest.mark.parametrize(
    "scenario", ["healthy", "spn-duplicate-in-another-domain", "child-domains-one-forest", "delegation-resource-based"]
)
def test_a_batched_read_gives_each_host_what_its_own_searches_give(scenario: str) -> None:
    with Lab(load_scenario(scenario)) as lab:
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    missing = together[targets[-1]]
    assert isinstance(missing, dict) and missing["computer"] is None


def test_a_fleet_is_read_in_a_few_searches_paged_as_ad_pages_them(tmp_path: Path) -> None:
    """Two groups of hosts (50 and 11), each read in one search a page of 4 entries at a time:
    every host gets exactly its own account and SPN holders, for far fewer searches."""
    lab = _fleet(tmp_path, 60)
    with lab:
        for server in [*lab.ldap.values(), *lab.global_catalogs.values()]:
            server.directory.max_page_size = 4
        targets = _targets(lab)
        before = _searches(lab)
        alone = _read_all(lab, targets, batched=False)
        searches_alone = _searches(lab) - before
        together = _read_all(lab, targets, batched=True)
        searches_together = _searches(lab) - before - searches_alone
    assert together == alone
    holders = together[targets[0]]
    assert isinstance(holders, dict) and holders["migration_spn_holders"][0]["holders"] == [
        "CN=HV001,OU=Hyper-V,DC=corp,DC=example"
    ]
    assert searches_alone >= 4 * len(targets)
    pages = math.ceil(50 / 4) + math.ceil(11 / 4)  # the two groups' entries, 4 a page
    # A rootDSE a group, the pages of accounts and of SPN holders, and the domain's trusts and
    # user (3 searches, which each of the 8 threads may read once before one keeps them).
    assert searches_together <= 2 + 2 * pages + 3 * 8


def _parts(search: Any) -> list[Any]:
    """A filter (as the DC decodes it) and every filter inside it."""
    inner = list(search) if isinstance(search, pureldap.LDAPFilter_and | pureldap.LDAPFilter_or) else []
    return [search, *(part for each in inner for part in _parts(each))]


def _or_filters_busy(request: Any) -> bool:
    """A DC answering busy every search with an OR in its filter: the batched ones."""
    return any(isinstance(part, pureldap.LDAPFilter_or) for part in _parts(request.filter))


def _account_searches_busy(request: Any) -> bool:
    """A DC answering busy every search for computer accounts, batched or not."""
    return any(
        isinstance(part, pureldap.LDAPFilter_equalityMatch) and part.attributeDesc.value.lower() == b"samaccountname"
        for part in _parts(request.filter)
    )


def test_a_failed_batched_search_leaves_each_host_to_its_own_search(tmp_path: Path) -> None:
    """A DC refusing the batched searches (busy): each host searches alone, and gets what it
    gets alone."""
    lab = _fleet(tmp_path, 8)
    with lab:
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        for server in [*lab.ldap.values(), *lab.global_catalogs.values()]:
            server.directory.busy_when = _or_filters_busy
        together = _read_all(lab, targets, batched=True)
    assert together == alone


def test_a_search_failing_for_every_host_gives_each_the_error_its_own_search_gives(tmp_path: Path) -> None:
    lab = _fleet(tmp_path, 8)
    with lab:
        for server in lab.ldap.values():
            server.directory.busy_when = _account_searches_busy
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    assert all(isinstance(result, tuple) and "busy" in result[1].lower() for result in together.values())


def test_holders_the_global_catalog_refuses_to_batch_come_from_each_hosts_own_search(tmp_path: Path) -> None:
    lab = _fleet(tmp_path, 8)
    with lab:
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        for server in lab.global_catalogs.values():
            server.directory.busy_when = _or_filters_busy
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    assert all(isinstance(result, dict) and result["spn_search_scope"] == "forest" for result in together.values())


def _entries(ldap: Any) -> int:
    return len([entry for entry in ldap.response if entry["type"] == "searchResEntry"])


def _credentials(options: CollectOptions) -> DirectoryCredentials:
    return DirectoryCredentials(str(options.username), str(options.password), options.ca_cert, options.verify)


def _read(
    options: CollectOptions,
    host: Any,
    sessions: DirectorySessions | None = None,
    on_bound: Callable[[], None] = lambda: None,
) -> DirectoryFacts:
    """A host's directory read in the lab's domain, as its collection makes it."""
    return read_directory(
        options.dns,
        "corp.example",
        host.computer,
        host.fqdn,
        _credentials(options),
        time.monotonic() + 30,
        sessions,
        on_bound,
    )


def test_the_lab_dc_pages_and_limits_searches_as_ad_does(tmp_path: Path) -> None:
    """MaxPageSize entries and sizeLimitExceeded without paging; pages of at most
    MaxPageSize with a cookie to go on; an unknown cookie refused; the request's size limit."""
    lab = _fleet(tmp_path, 10)
    with lab:
        lab.ldap["corp.example"].directory.max_page_size = 4
        options = lab.collect_options(False, ())
        credentials = _credentials(options)
        computers = "(objectClass=computer)"
        with (
            DirectorySessions() as sessions,
            sessions.borrow(options.dns, "corp.example", credentials, time.monotonic() + 30) as (ldap, _, _),
        ):
            ldap.search("DC=corp,DC=example", computers, SUBTREE, attributes=["sAMAccountName"])
            assert (ldap.result["result"], _entries(ldap)) == (SIZE_LIMIT_EXCEEDED, 4)
            pages: list[int] = []
            cookie = None
            while True:
                ldap.search(
                    "DC=corp,DC=example",
                    computers,
                    SUBTREE,
                    attributes=["sAMAccountName"],
                    paged_size=100,
                    paged_cookie=cookie,
                )
                pages.append(_entries(ldap))
                cookie = ldap.result["controls"][PAGED_RESULTS]["value"]["cookie"]
                if not cookie:
                    break
            assert pages == [4, 4, 2]
            with pytest.raises(LDAPUnavailableCriticalExtensionResult):
                ldap.search("DC=corp,DC=example", computers, SUBTREE, paged_size=4, paged_cookie=b"\x07\x00\x00\x00")
            ldap.search("DC=corp,DC=example", computers, SUBTREE, size_limit=3)
            assert (ldap.result["result"], _entries(ldap)) == (SIZE_LIMIT_EXCEEDED, 3)


def test_hosts_sharing_a_rootdse_read_each_carry_the_dcs_clock_offset(tmp_path: Path) -> None:
    """A group of hosts shares one read of the DC's rootDSE: each host's facts hold the DC's
    clock and the tool's at that read, so the DC's offset the clock checks use is its own."""
    lab = _fleet(tmp_path, 6)
    with lab:
        lab.ldap["corp.example"].directory.clock_offset = 400.0
        options = lab.collect_options(False, ())
        names = [typed_names(lab.fqdn(name), options) for name in lab.scenario.hosts]
        with DirectorySessions(2) as sessions:
            sessions.expect(names)
            facts = [_read(options, host, sessions) for host in names]
        searches = lab.ldap["corp.example"].directory.searches
    offsets = [(f.dc_utc - f.observer_utc).total_seconds() for f in facts if f.dc_utc and f.observer_utc]
    assert len(offsets) == 6 and all(399 <= offset <= 401 for offset in offsets)
    assert searches <= 1 + 1 + 3  # one rootDSE, one page of accounts, the domain's trusts and user


def test_values_beyond_maxvalrange_are_read_a_range_at_a_time(tmp_path: Path) -> None:
    """A DC sends at most MaxValRange values of an attribute (``name;range=0-6`` here) and the
    rest a range at a time when asked: each account's 44 delegation entries are still read
    whole, alone and in a batch."""
    lab = _fleet(tmp_path, 12)
    with lab:
        targets = _targets(lab)
        whole = _read_all(lab, targets, batched=False)
        lab.ldap["corp.example"].directory.max_val_range = 7
        options = lab.collect_options(False, ())
        with (
            DirectorySessions() as sessions,
            sessions.borrow(options.dns, "corp.example", _credentials(options), time.monotonic() + 30) as (ldap, _, _),
        ):
            sent: dict[str, int] = {}
            for auto_range in (False, True):  # as the DC sends it, then as ldap3 completes it
                ldap.auto_range = auto_range
                ldap.search("DC=corp,DC=example", "(sAMAccountName=HV003$)", SUBTREE, attributes=[DELEGATION])
                sent |= {name: len(values) for name, values in ldap.response[0]["raw_attributes"].items()}
            assert sent == {f"{DELEGATION};range=0-6": 7, DELEGATION: 44}
        alone = _read_all(lab, targets, batched=False)
        together = _read_all(lab, targets, batched=True)
    assert alone == whole and together == whole
    account = whole[targets[2]]
    assert isinstance(account, dict) and len(account["computer"]["allowed_to_delegate_to"]) == 44


def test_a_dc_that_never_stops_paging_is_read_alone_by_each_host() -> None:
    """A DC answering every page with another cookie ends the search after MOST_PAGES pages as
    answered in part (a batch then leaves each host to search alone), not at the run's deadline
    or never."""
    from lmpreflight.collect import directory

    class EndlessPages:
        def __init__(self) -> None:
            self.searches = 0
            self.response: list[dict[str, object]] = []
            self.result: dict[str, object] = {}

        def search(self, *args: object, **kwargs: object) -> None:
            self.searches += 1
            self.response = [{"type": "searchResEntry", "raw_attributes": {}}]
            self.result = {"result": 0, "controls": {directory.PAGED_RESULTS: {"value": {"cookie": b"more"}}}}

    connection = EndlessPages()
    with pytest.raises(directory._PartialAnswer, match="stopped short"):
        directory._paged_entries(connection, "DC=corp,DC=example", "(cn=*)", ["cn"])
    assert connection.searches == directory.MOST_PAGES


MIGRATION = "Microsoft Virtual System Migration Service"
PAST_A_PAGE = MAX_PAGE_SIZE + 1


def _crowded(tmp_path: Path) -> Lab:
    """``healthy`` with HV02's migration SPN held by 1,001 stale accounts as well, and 1,001
    trusts: searches finding more entries than a DC returns at once (MaxPageSize)."""
    stale = [
        {"name": f"OLD{number:04}", "service_principal_names": [f"{MIGRATION}/hv02.corp.example"]}
        for number in range(PAST_A_PAGE)
    ]
    trusts = [
        {"partner": f"p{number:04}.example", "direction": "Inbound", "trust_type": "External", "transitive": False}
        for number in range(PAST_A_PAGE)
    ]
    document = {
        "extends": "healthy",
        "name": "crowded",
        "domains": {"corp.example": {"extra_accounts": stale, "trusts": trusts}},
    }
    path = tmp_path / "crowded.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")
    return Lab(load_scenario(str(path)))


def test_searches_finding_more_than_a_page_are_read_whole(tmp_path: Path) -> None:
    """A DC returns MaxPageSize entries to a search without paging and ends it with
    sizeLimitExceeded, which ldap3 does not raise: the holders of an SPN and the trusts are
    read a page at a time, alone and in a batch, so none is left out."""
    with _crowded(tmp_path) as lab:
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    destination = alone[lab.fqdn("HV02")]
    assert isinstance(destination, dict) and destination["spn_search_scope"] == "forest"
    holders = {holder["spn"]: len(holder["holders"]) for holder in destination["migration_spn_holders"]}
    assert holders == {f"{MIGRATION}/HV02": 1, f"{MIGRATION}/hv02.corp.example": PAST_A_PAGE + 1}
    assert len(destination["trusts"]) == PAST_A_PAGE


def test_a_search_a_dc_answers_only_in_part_leaves_the_directory_unread(tmp_path: Path) -> None:
    """Pages of 40 entries and at most MOST_PAGES of them: the 1,002 holders and 1,001 trusts
    cannot be read whole, and every host's directory read fails with that reason (its checks
    then say INCOMPLETE), never a verdict on a list cut short."""
    from lmpreflight.collect import directory

    with _crowded(tmp_path) as lab:
        for server in [*lab.ldap.values(), *lab.global_catalogs.values()]:
            server.directory.max_page_size = 40
        assert 40 * directory.MOST_PAGES < PAST_A_PAGE
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    assert all(isinstance(result, tuple) and "stopped short" in result[1] for result in alone.values()), alone


def _batches_alive() -> int:
    from lmpreflight.collect.directory import _Batch

    gc.collect()
    return sum(isinstance(thing, _Batch) for thing in gc.get_objects())


def test_a_groups_entries_are_let_go_once_each_of_its_hosts_has_taken_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two groups of 4 hosts: the first group's reads (its rootDSE, accounts and SPN holders)
    go as its last host finishes, the second's are kept while one of its hosts has yet to read,
    and a host read again once its group has gone searches alone and gets the same facts."""
    monkeypatch.setattr(directory, "BATCH_HOSTS", 4)
    lab = _fleet(tmp_path, 8)
    with lab:
        options = lab.collect_options(False, ())
        names = [typed_names(lab.fqdn(name), options) for name in lab.scenario.hosts]
        before = _batches_alive()

        def read(host: Any, sessions: DirectorySessions) -> dict[str, Any]:
            return _read(options, host, sessions).model_dump(mode="json", exclude={"dc_utc", "observer_utc"})

        with DirectorySessions(2) as sessions:
            sessions.expect(names)
            with ThreadPoolExecutor(4) as pool:
                first = list(pool.map(lambda host: read(host, sessions), names[:7]))
            assert _batches_alive() - before == 3
            first.append(read(names[7], sessions))
            assert _batches_alive() == before
            searches = lab.ldap["corp.example"].directory.searches
            again = read(names[0], sessions)
            searched = lab.ldap["corp.example"].directory.searches - searches
    assert again == first[0]
    assert searched == 2  # its rootDSE and its own account: the domain's trusts and user are kept


def test_the_domains_trusts_and_user_are_read_once_by_the_first_host_that_needs_them(tmp_path: Path) -> None:
    """Four hosts reach the domain's trusts at once (one per connection, the DC slow to answer
    the first): one reads them and the tool's account, the others wait for its answer."""
    trust_searches: list[Any] = []

    def slow_trusts(request: Any) -> bool:
        if any(
            isinstance(part, pureldap.LDAPFilter_equalityMatch) and part.assertionValue.value == b"trustedDomain"
            for part in _parts(request.filter)
        ):
            trust_searches.append(request)
            time.sleep(0.5)  # the DC's answer takes a while: the other hosts arrive meanwhile
        return False

    lab = _fleet(tmp_path, 8)
    with lab:
        targets = _targets(lab)
        alone = _read_all(lab, targets, batched=False)
        trust_searches.clear()
        lab.ldap["corp.example"].directory.busy_when = slow_trusts
        together = _read_all(lab, targets, batched=True)
    assert together == alone
    assert len(trust_searches) == 1


def test_the_domain_accepts_the_password_only_once_the_global_catalog_has_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Global Catalog may refuse a password its DC took (a change or a lockout not yet
    replicated to it): the read's acceptance, which starts a fleet's workers, waits for it."""
    connect = directory._connect

    def catalog_refuses(
        server: Any, domain: str, credentials: DirectoryCredentials, deadline: float, locator: str | None = None
    ) -> tuple[Any, str]:
        if locator is not None and locator.startswith("_gc."):
            raise DirectoryError("gc01 rejected the password", "check it", credentials_rejected=True)
        return connect(server, domain, credentials, deadline, locator)

    with _fleet(tmp_path, 2) as lab:
        options = lab.collect_options(False, ())
        host = typed_names(lab.fqdn(next(iter(lab.scenario.hosts))), options)
        accepted: list[str] = []
        _read(options, host, on_bound=lambda: accepted.append("accepted"))
        assert accepted == ["accepted"], "both binds took it"
        accepted.clear()
        monkeypatch.setattr(directory, "_connect", catalog_refuses)
        with pytest.raises(DirectoryError) as refused:
            _read(options, host, on_bound=lambda: accepted.append("accepted"))
    assert refused.value.credentials_rejected
    assert accepted == [], "a refusal by the Global Catalog is not the domain's acceptance"


def test_once_a_shared_read_has_failed_the_hosts_read_on_their_own_at_once() -> None:
    """Hosts waiting for the first host's read of the domain do not read in turn once it has
    failed: each would wait for the others' slow failures and be left no time for its own."""
    shared: directory._Once[str] = directory._Once()
    together = threading.Barrier(3, timeout=10)
    calls: list[int] = []

    def read() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.2)  # the others queue up behind it meanwhile
            raise DirectoryError("LDAP query to dc01 failed: timed out")
        together.wait()  # the other three read at the same time, or this breaks
        raise DirectoryError("LDAP query to dc01 failed: timed out")

    def host() -> str:
        try:
            return shared.get(read, time.monotonic() + 30)
        except DirectoryError as exc:
            return exc.message

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(host)
        time.sleep(0.05)
        others = [pool.submit(host) for _ in range(3)]
        answers = [first.result(), *(other.result() for other in others)]
    assert answers == ["LDAP query to dc01 failed: timed out"] * 4, "each its own DC's error"
    assert len(calls) == 4
    assert shared.get(lambda: "read at last", time.monotonic() + 30) == "read at last"
    assert shared.get(read, time.monotonic() + 30) == "read at last", "kept for the hosts to come"
    assert len(calls) == 4
