"""The HTML matrix: what the page unpacks holds every cell's problems, and in Chromium the page
draws only what is in view yet every cell stays reachable, by mouse and by keyboard."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.fleet.document import PlanInfo
from lmpreflight.fleet.html import PROBLEMS_PER_BLOCK, deltas, plan_cells, plan_view, problem_blocks, render_plan_html
from lmpreflight.fleet.placement import PlacementMatrix
from lmpreflight.vocabulary import Status
from tests.hostile import PAYLOADS
from tests.test_fleet_placement import fleet, matrix_for, renamed

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (./scripts/bootstrap)")


def unpacked(text: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def ids_from(steps: list[int]) -> list[int]:
    out, total = [], 0
    for step in steps:
        total += step
        out.append(total)
    return out


def own_cells(flat: list[int]) -> dict[int, list[int]]:
    """``[destination step, count, ids...]`` per cell, back into destination → ids."""
    cells, at, position = {}, 0, 0
    while position < len(flat):
        at += flat[position]
        count = flat[position + 1]
        cells[at] = ids_from(flat[position + 2 : position + 2 + count])
        position += 2 + count
    return cells


def sample() -> PlacementMatrix:
    def one_way(hosts: dict[str, Any]) -> None:
        hosts["hv02"]["migration"]["use_any_network"] = True  # a warning on the ready destination

    return matrix_for(fleet({"x": one_way}))


def test_deltas_are_differences_from_the_id_before() -> None:
    assert deltas([4, 5, 6, 31, 2]) == [4, 1, 1, 25, -29]
    assert ids_from(deltas([4, 5, 6, 31, 2])) == [4, 5, 6, 31, 2]
    assert deltas([]) == []


def test_problem_blocks_hold_every_problem_in_order() -> None:
    matrix = sample()
    problems = [p for block in problem_blocks(matrix) for p in zip(*unpacked(block), strict=True)]
    assert [(p[0], p[1], p[3]) for p in problems] == [(p.check_id, p.status.value, p.message) for p in matrix.problems]
    assert all(len(unpacked(b)[0]) <= PROBLEMS_PER_BLOCK for b in problem_blocks(matrix))
    assert plan_cells(matrix)["status"] == "".join(p.status.value[0] for p in matrix.problems)


def test_rows_mark_warnings_and_cells_unpack_to_the_cell_problems() -> None:
    matrix = sample()
    rows, cells = unpacked(plan_view(matrix)["rows"]), plan_cells(matrix)
    for number, (row, drawn) in enumerate(zip(matrix.rows, rows, strict=True)):
        assert drawn[2].lower() == row.placements
        own = own_cells(cells["own"][number])
        for index, code in enumerate(row.placements):
            if code == "-":
                continue
            ids = ids_from(cells["pairs"][drawn[0]][index]) + own.get(index, [])
            assert sorted(set(ids)) == sorted(matrix.cell_problems(row, index))
            warned = any(matrix.problems[i].status == Status.WARN for i in ids)
            assert drawn[2][index] == (code.upper() if warned else code)
    assert any(c.isupper() for row in rows for c in row[2])  # the warning was marked


def test_hosts_carry_their_counts_at_once_and_their_problems_packed() -> None:
    matrix = sample()
    listed, cells = plan_view(matrix)["hosts"], plan_cells(matrix)
    assert [host[0] for host in listed] == [h.name for h in matrix.hosts if h.error or matrix.host_problems.get(h.name)]
    for (name, error, blocking, warnings), steps in zip(listed, cells["hosts"], strict=True):
        ids = ids_from(steps)
        assert ids == matrix.host_problems.get(name, [])
        assert warnings == sum(1 for i in ids if matrix.problems[i].status == Status.WARN)
        assert blocking == len(ids) - warnings
        assert (error is not None) == (name == "hv05")


@pytest.mark.slow
@needs_chromium
def test_a_cell_unpacks_its_problems_in_chromium_or_says_why_not(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "plan.html"
    info = PlanInfo(command="test", run_from="here", generated_at=datetime.now(UTC))
    path.write_text(render_plan_html(sample(), info), encoding="utf-8")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    assert page.locator("td.c.r.w").count() == 2  # the warning mark drawn from the row's letters
    page.locator("td.c.f").first.press("Enter")  # the keyboard opens a cell as a click does
    page.locator("#detail .problem").first.wait_for()
    assert "network.firewall-rule" in page.locator("#detail").inner_text()
    old = browser.new_page()
    old.add_init_script("delete window.DecompressionStream")
    old.goto(path.as_uri())
    old.locator("main > .alert").last.wait_for()
    assert "cannot unpack the plan" in old.locator("main").inner_text()
    assert old.locator("#matrix").count() == 0
    assert errors == []


def big() -> PlacementMatrix:
    """180 VMs on HV01 (page 8 of 25 rows) and 30 destinations, HV05 (unreachable) the last."""

    def many(hosts: dict[str, Any]) -> None:
        template = hosts["hv01"]["vms"][0]
        hosts["hv01"]["vms"] = [{**copy.deepcopy(template), "name": f"APP{n:03d}"} for n in range(180)]
        for n in range(6, 32):
            hosts[f"hv{n:02d}"] = renamed(hosts["hv02"], "HV02", f"HV{n:02d}")

    return matrix_for(fleet({"many": many}))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def big_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "plan.html"
    info = PlanInfo(command="test", run_from="here", generated_at=datetime.now(UTC))
    path.write_text(render_plan_html(big(), info), encoding="utf-8")
    return path


@pytest.fixture
def big_page(browser: Any, big_plan: Path) -> Iterator[Any]:
    """The big plan, freshly opened in a window that shows a dozen destinations."""
    page = browser.new_page(viewport={"width": 700, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(big_plan.as_uri())
    page.locator("#matrix tbody tr").first.wait_for()
    yield page
    page.close()
    assert errors == []


def drawn_destinations(page: Any) -> list[str]:
    return list(page.locator("#matrix thead th.dest").all_inner_texts())


@pytest.mark.slow
@needs_chromium
def test_only_the_destinations_in_view_are_drawn_and_scrolling_draws_the_rest(big_page: Any) -> None:
    page = big_page
    first = drawn_destinations(page)
    assert first[0] == "hv02" and len(first) < 30
    assert page.locator("#matrix tbody tr").first.locator("td.c").count() == len(first)
    assert page.locator("#matrix").get_attribute("aria-colcount") == "31"
    page.locator("#scroll").evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    page.wait_for_function("document.querySelector('#matrix thead th.dest:nth-last-child(2)').textContent === 'hv05'")
    last = page.locator("#matrix tbody tr").first.locator("td.c").last
    assert last.get_attribute("aria-colindex") == "31"
    last.click()
    page.locator("#detail .problem").first.wait_for()
    assert "APP000 (hv01) → hv05: unknown" in page.locator("#detail").inner_text()
    assert "collection.host" in page.locator("#detail").inner_text()


@pytest.mark.slow
@needs_chromium
def test_the_keyboard_reaches_a_cell_out_of_view_and_opens_it(big_page: Any) -> None:
    page = big_page
    assert page.locator('#matrix td.c[tabindex="0"]').count() == 1  # one Tab stop: the grid
    page.locator("#matrix td.c").first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("End")
    focused = page.evaluate("[document.activeElement.getAttribute('aria-label'), document.activeElement.dataset.d]")
    assert focused == ["unknown", "29"]  # hv05, drawn when the End key scrolled to it
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.locator("#detail .problem").first.wait_for()
    detail = page.locator("#detail").inner_text()
    assert "APP001 (hv01) → hv31: ready after fixes" in detail  # HV01 does not delegate to HV31
    assert "delegation.spns-to-destination" in detail


@pytest.mark.slow
@needs_chromium
def test_a_filter_finds_a_vm_on_page_7_and_paging_reaches_it(big_page: Any) -> None:
    page = big_page
    page.fill("input[name=q]", "app160")
    assert page.locator("#matrix tbody th.vm").all_inner_texts() == ["APP160 (hv01)"]
    assert page.locator("#shown").inner_text().startswith("1 of 180 VM(s)")
    page.locator("#matrix tbody td.c.b").first.click()  # the first click, while the search box has focus
    page.locator("#detail .problem").first.wait_for()
    assert "APP160 (hv01) → hv04: blocked" in page.locator("#detail").inner_text()
    assert "vm.processor-compatibility" in page.locator("#detail").inner_text()
    page.fill("input[name=q]", "")
    for _ in range(6):
        page.click("#next")
    assert page.locator("#page").inner_text() == "page 7 of 8"
    assert "APP160 (hv01)" in page.locator("#matrix tbody th.vm").all_inner_texts()
    assert page.locator("#matrix tbody tr").first.get_attribute("aria-rowindex") == "152"


@pytest.mark.slow
@needs_chromium
def test_hostile_vm_and_host_names_stay_text(browser: Any, tmp_path: Path) -> None:
    vm, destination = "SQL01" + PAYLOADS["html"], "hv02</script>" + PAYLOADS["html"]

    def hostile(hosts: dict[str, Any]) -> None:
        hosts["hv01"]["vms"][0]["name"] = vm

    facts = fleet({"hostile": hostile})
    matrix = matrix_for({destination if name == "hv02" else name: host for name, host in facts.items()})
    path = tmp_path / "plan.html"
    info = PlanInfo(command="test", run_from="here", generated_at=datetime.now(UTC))
    path.write_text(render_plan_html(matrix, info), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    assert page.locator("#matrix thead th.dest").first.inner_text() == destination
    assert page.locator("#matrix tbody th.vm").first.inner_text() == f"{vm} (hv01)"
    page.locator("#matrix tbody td.c").first.click()  # the long name's header, cut short, leaves the rows in view
    page.locator("#detail h2").wait_for()
    assert page.locator("#detail h2").inner_text().startswith(f"{vm} (hv01) → {destination}")
    assert page.evaluate("window.__xss") is None
    assert page.locator("img").count() == 0


@pytest.mark.slow
@needs_chromium
def test_a_printed_page_has_every_destination(big_page: Any) -> None:
    page = big_page
    assert len(drawn_destinations(page)) < 30
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert len(drawn_destinations(page)) == 30
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert len(drawn_destinations(page)) < 30
